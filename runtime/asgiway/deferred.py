"""Frames an app sends during CONNECT, delivered right after the handshake (and, when the app
closed the connection after accepting it, the close that follows them).

API Gateway answers 410 to any post (or DELETE) until `$connect` has returned, so such frames
cannot be sent from the CONNECT invocation itself. On Lambda, the CONNECT invocation hands them to an
asynchronous invocation of the same function (Lambda's Invoke API, InvocationType "Event"),
which posts them once the handshake is through, retrying 410 briefly. The function's role needs
`lambda:InvokeFunction` on itself (the CDK construct grants it). Elsewhere (tests, the local
emulator) a background thread of the same process does the same; a MESSAGE of that connection in
that process waits for it, so the frames come before any reply.

The invocation's payload names the connection and carries the frames; it never names where to
post them. Anyone allowed to invoke the function could otherwise make it sign requests with its
role to a host of their choosing (an execute-api host of their own API included). The endpoint is
the function's configured one, else the one recorded with the connection at CONNECT (see
`RECORDED_ENDPOINT_KEY`); a payload for a connection with neither is refused, as is any payload
that is not exactly the documented shape: answered 400 and logged, never raised (Lambda would
retry a raise). The payload is not signed: whoever may invoke the function can already hand it
any API Gateway event, MESSAGE included, which makes the app post to that connection anyway.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asgiway.broadcast_shards import is_shard, serve_shard
from asgiway.log_redaction import protect
from asgiway.management_api import ConnectionsApiError, client_for, session_for_emulator_endpoints
from asgiway.sources.delivery import DELIVERY_EVENT_KEY
from asgiway.types import LambdaContext, LambdaEvent, LambdaResponse

if TYPE_CHECKING:
    from asgiway.backends import Backend

logger = logging.getLogger("asgiway")

#: Lambda refuses an asynchronous invocation whose payload is larger (its documented limit).
MAX_ASYNC_PAYLOAD_BYTES = 256 * 1024
#: How long a delivery keeps trying while API Gateway still answers 410 for a fresh connection.
HANDSHAKE_WAIT_SECONDS = 5.0
_RETRY_DELAYS = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0)

#: Where the CONNECT records the @connections endpoint it served, in the stored scope.
RECORDED_ENDPOINT_KEY = "asgiway.endpoint_url"
#: API Gateway's connection ids are short base64-like strings; a payload's must look like one.
_CONNECTION_ID = re.compile(r"[A-Za-z0-9+/=_-]{1,128}")
#: At most this many frames in one payload: its size is bounded by Lambda anyway.
_MAX_FRAMES = 10_000

_in_flight: dict[str, threading.Thread] = {}
_in_flight_lock = threading.Lock()


def encode_frames(frames: list[str | bytes]) -> list[dict[str, str]]:
    return [
        {"text": frame} if isinstance(frame, str) else {"bytes": base64.b64encode(frame).decode()}
        for frame in frames
    ]


def deliver_after_handshake(
    endpoint_url: str,
    connection_id: str,
    frames: list[str | bytes],
    context: LambdaContext | None,
    *,
    close: bool = False,
) -> None:
    """Arrange for `frames` to reach the client at `endpoint_url` once CONNECT has returned; then,
    with `close`, for the connection to be closed (@connections DELETE)."""
    function = getattr(context, "invoked_function_arn", None)
    if function and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        payload: dict[str, Any] = {"connection_id": connection_id, "frames": encode_frames(frames)}
        if close:
            payload["close"] = True
        _invoke_asynchronously(function, payload)
        return
    thread = threading.Thread(
        target=deliver,
        args=(endpoint_url, connection_id, frames, close),
        name=f"asgiway-deliver-{connection_id}",
        daemon=True,
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


class MalformedDeliveryError(ValueError):
    """A delivery payload that is not exactly the documented shape."""


def handle(
    event: LambdaEvent, endpoint_for: Callable[[str], str | None], backend: Backend | None = None
) -> LambdaResponse:
    """Serve a delivery event, the asynchronous invocation a CONNECT started: 400 (logged, never
    raised) for a malformed payload or a connection whose endpoint the function does not know.
    A broadcast's shard (`asgiway.broadcast_shards`) travels the same way, and needs the store."""
    if is_shard(event.get(DELIVERY_EVENT_KEY)):
        return serve_shard(event[DELIVERY_EVENT_KEY], endpoint_for, backend)
    try:
        connection_id, frames, close = parse_payload(event.get(DELIVERY_EVENT_KEY))
    except MalformedDeliveryError as exc:
        logger.error("Refused a malformed delivery event: %s", exc)
        return {"statusCode": 400, "body": "Bad Request"}
    endpoint_url = endpoint_for(connection_id)
    if endpoint_url is None:
        logger.error(
            "Refused a delivery to connection %s: no @connections endpoint is configured and none "
            "was recorded for it (it is unknown, or has expired)",
            connection_id,
        )
        return {"statusCode": 400, "body": "Bad Request"}
    delivered = deliver(endpoint_url, connection_id, frames, close)
    return {"statusCode": 200, "body": json.dumps({"delivered": delivered})}


def parse_payload(payload: Any) -> tuple[str, list[str | bytes], bool]:
    """(connection id, frames, close) from a delivery payload, checked field by field."""
    if not isinstance(payload, dict):
        raise MalformedDeliveryError(f"the payload must be an object, not {type(payload).__name__}")
    unknown = set(payload) - {"connection_id", "frames", "close"}
    if unknown:
        raise MalformedDeliveryError(f"unknown fields {sorted(map(str, unknown))[:5]}")
    connection_id = payload.get("connection_id")
    if not isinstance(connection_id, str) or not _CONNECTION_ID.fullmatch(connection_id):
        raise MalformedDeliveryError("connection_id must be a connection id")
    close = payload.get("close", False)
    if not isinstance(close, bool):
        raise MalformedDeliveryError("close must be true or false")
    encoded = payload.get("frames")
    if not isinstance(encoded, list) or len(encoded) > _MAX_FRAMES:
        raise MalformedDeliveryError(f"frames must be a list of at most {_MAX_FRAMES}")
    frames: list[str | bytes] = []
    for item in encoded:
        if isinstance(item, dict) and set(item) == {"text"} and isinstance(item["text"], str):
            frames.append(item["text"])
        elif isinstance(item, dict) and set(item) == {"bytes"} and isinstance(item["bytes"], str):
            try:
                frames.append(base64.b64decode(item["bytes"], validate=True))
            except ValueError:
                raise MalformedDeliveryError("a binary frame is not base64") from None
        else:
            raise MalformedDeliveryError('each frame must be {"text": str} or {"bytes": base64}')
    return connection_id, frames, close


def deliver(endpoint_url: str, connection_id: str, frames: list[str | bytes], close: bool = False) -> int:
    """Post the frames in order, then close the connection if asked; only the first call waits
    out 410s, while the handshake completes. Once one frame got through, a 410 means the client
    has left."""
    api = client_for(endpoint_url)
    delivered = 0
    try:
        for frame in frames:
            posted = (
                api.post(connection_id, frame)
                if delivered
                else _once_connected(functools.partial(api.post, connection_id, frame))
            )
            if not posted:
                logger.info("Connection %s left before its CONNECT frames could be delivered", connection_id)
                return delivered
            delivered += 1
        if close:
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


def invoke_asynchronously(function: str, event: dict[str, Any], what: str) -> bool:
    """Hand `event` (carrying `what`, for the log) to an asynchronous invocation of `function`, as
    CONNECT frames are handed over; False, logged, when Lambda refused it or could not be reached."""
    try:
        _lambda_client().invoke(
            FunctionName=function, InvocationType="Event", Payload=json.dumps(event, ensure_ascii=False)
        )
    except Exception as exc:
        logger.error(
            "Could not hand %s to an asynchronous invocation (does the role allow "
            "lambda:InvokeFunction on %s?): %s",
            what,
            function,
            exc,
        )
        return False
    return True


_client: Any = None
_client_lock = threading.Lock()


def _lambda_client() -> Any:
    """One Lambda client per container, quick to give up: CONNECT waits for the hand-over."""
    global _client  # noqa: PLW0603 - created on the first CONNECT that needs it
    with _client_lock:
        if _client is None:
            from botocore.config import Config

            config = Config(
                connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2}
            )
            # The payload holds the frames: protected from botocore's DEBUG log.
            _client = protect(session_for_emulator_endpoints().client("lambda", config=config))
        return _client
