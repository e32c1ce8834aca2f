"""Frames an app sends during CONNECT, delivered right after the handshake (and, when the app
closed the connection after accepting it, the close that follows them).

API Gateway answers 410 to any post (or DELETE) until `$connect` has returned, so such frames
cannot be sent from the CONNECT invocation itself. On Lambda, the CONNECT invocation hands them to an
asynchronous invocation of the same function (Lambda's Invoke API, InvocationType "Event"),
which posts them once the handshake is through, retrying 410 briefly. The function's role needs
`lambda:InvokeFunction` on itself (the CDK construct grants it). Elsewhere (tests, the local
emulator) a background thread of the same process does the same; a MESSAGE of that connection in
that process waits for it, so the frames come before any reply.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from asgiway.log_redaction import protect
from asgiway.management_api import ConnectionsApiError, client_for
from asgiway.sources.delivery import DELIVERY_EVENT_KEY
from asgiway.types import LambdaContext, LambdaEvent, LambdaResponse

logger = logging.getLogger("asgiway")

#: Lambda refuses an asynchronous invocation whose payload is larger (its documented limit).
MAX_ASYNC_PAYLOAD_BYTES = 256 * 1024
#: How long a delivery keeps trying while API Gateway still answers 410 for a fresh connection.
HANDSHAKE_WAIT_SECONDS = 5.0
_RETRY_DELAYS = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0)

_in_flight: dict[str, threading.Thread] = {}
_in_flight_lock = threading.Lock()


def encode_frames(frames: list[str | bytes]) -> list[dict[str, str]]:
    return [
        {"text": frame} if isinstance(frame, str) else {"bytes": base64.b64encode(frame).decode()}
        for frame in frames
    ]


def decode_frames(encoded: list[dict[str, str]]) -> list[str | bytes]:
    return [item["text"] if "text" in item else base64.b64decode(item["bytes"]) for item in encoded]


def deliver_after_handshake(
    endpoint_url: str,
    connection_id: str,
    frames: list[str | bytes],
    context: LambdaContext | None,
    *,
    close: bool = False,
) -> None:
    """Arrange for `frames` to reach the client once CONNECT has returned; then, with `close`,
    for the connection to be closed (@connections DELETE)."""
    payload: dict[str, Any] = {
        "endpoint_url": endpoint_url,
        "connection_id": connection_id,
        "frames": encode_frames(frames),
    }
    if close:
        payload["close"] = True
    function = getattr(context, "invoked_function_arn", None)
    if function and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        _invoke_asynchronously(function, payload)
        return
    thread = threading.Thread(
        target=deliver, args=(payload,), name=f"asgiway-deliver-{connection_id}", daemon=True
    )
    with _in_flight_lock:
        _in_flight[connection_id] = thread
    thread.start()


def delivery_in_flight(connection_id: str) -> bool:
    """Whether this process is still delivering the connection's CONNECT frames."""
    with _in_flight_lock:
        return connection_id in _in_flight


def wait_for_delivery(connection_id: str) -> None:
    """Let a delivery of this process to the connection finish first, so frames keep their order."""
    with _in_flight_lock:
        thread = _in_flight.get(connection_id)
    if thread is not None:
        thread.join(HANDSHAKE_WAIT_SECONDS + 5)


def handle(event: LambdaEvent) -> LambdaResponse:
    """Serve a delivery event: the asynchronous invocation that CONNECT started."""
    delivered = deliver(event[DELIVERY_EVENT_KEY])
    return {"statusCode": 200, "body": json.dumps({"delivered": delivered})}


def deliver(payload: dict[str, Any]) -> int:
    """Post the frames in order, then close the connection if asked; only the first call waits
    out 410s, while the handshake completes. Once one frame got through, a 410 means the client
    has left."""
    connection_id = payload["connection_id"]
    api = client_for(payload["endpoint_url"])
    delivered = 0
    try:
        for frame in decode_frames(payload["frames"]):
            posted = (
                api.post(connection_id, frame)
                if delivered
                else _once_connected(functools.partial(api.post, connection_id, frame))
            )
            if not posted:
                logger.info("Connection %s left before its CONNECT frames could be delivered", connection_id)
                return delivered
            delivered += 1
        if payload.get("close"):
            closed = (
                api.delete(connection_id)
                if delivered
                else _once_connected(functools.partial(api.delete, connection_id))
            )
            if not closed:
                logger.info("Connection %s had left before the app's close could be made", connection_id)
    except ConnectionsApiError as exc:
        logger.error("Delivering CONNECT frames to %s failed: %s", connection_id, exc)
    finally:
        with _in_flight_lock:
            if _in_flight.get(connection_id) is threading.current_thread():
                del _in_flight[connection_id]
    return delivered


def _once_connected(call: Callable[[], bool]) -> bool:
    """`call` (a post or a DELETE), tried again while API Gateway answers 410 for a connection
    whose `$connect` is still returning, up to HANDSHAKE_WAIT_SECONDS."""
    deadline = time.monotonic() + HANDSHAKE_WAIT_SECONDS
    for delay in (0.0, *_RETRY_DELAYS):
        time.sleep(delay)
        if call():
            return True
        if time.monotonic() >= deadline:
            break
    return False


def _invoke_asynchronously(function: str, payload: dict[str, Any]) -> None:
    body = json.dumps({DELIVERY_EVENT_KEY: payload}, ensure_ascii=False).encode()
    if len(body) > MAX_ASYNC_PAYLOAD_BYTES:
        logger.error(
            "Frames sent during CONNECT make %d bytes, over Lambda's %d for an asynchronous "
            "invocation: not delivered; send large data after the handshake",
            len(body),
            MAX_ASYNC_PAYLOAD_BYTES,
        )
        return
    try:
        _lambda_client().invoke(FunctionName=function, InvocationType="Event", Payload=body)
    except Exception as exc:
        logger.error(
            "Could not hand CONNECT frames to an asynchronous invocation (does the role allow "
            "lambda:InvokeFunction on %s?): %s",
            function,
            exc,
        )


_client: Any = None
_client_lock = threading.Lock()


def _lambda_client() -> Any:
    """One Lambda client per container, quick to give up: CONNECT waits for the hand-over."""
    global _client  # noqa: PLW0603 - created on the first CONNECT that needs it
    with _client_lock:
        if _client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2}
            )
            # The payload holds the frames: protected from botocore's DEBUG log.
            _client = protect(boto3.session.Session().client("lambda", config=config))
        return _client
