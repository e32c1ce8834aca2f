"""What the emulator tests serve: an ASGI app (as `asgiway dev` wraps it) and a Lambda handler as deployed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import EVENT_SCOPE_KEY
from asgiway.connections import Connections

#: Where the handler writes every event it receives, when the test sets it.
EVENTS_FOLDER_VARIABLE = "ASGIWAY_TEST_EVENTS"


async def session(websocket: WebSocket) -> None:
    """Accept, deny or pick a subprotocol by the query; greet with the connection id; echo; close on
    "close"; report closes to the room.

    A `quiet` client gets no greeting: the greeting travels through an asynchronous invocation,
    often on a cold instance, so only a client that is sent nothing unasked has no traffic but
    what its test makes, as the idle-timeout tests need.
    """
    denial = websocket.query_params.get("deny")
    if denial == "close":
        await websocket.close()
        return
    if denial:
        await websocket.send_denial_response(PlainTextResponse("not you", status_code=int(denial)))
        return
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(subprotocol="chat.v2" if "chat.v2" in offered else None)
    connections = Connections.of(websocket)
    room = websocket.query_params.get("room")
    if websocket.scope[EVENT_SCOPE_KEY] == "connect":
        if room:
            await connections.join(room)
        if "quiet" not in websocket.query_params:
            await websocket.send_text(f"id {connections.connection_id}")
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            if room and websocket.scope[EVENT_SCOPE_KEY] == "disconnect":
                report = f"closed {message.get('code')} {message.get('reason', '')}".strip()
                await connections.broadcast(report, room=room, exclude=[connections.connection_id or ""])
            return
        text = message.get("text")
        if text == "close":
            await websocket.close(4000, "asked")
            return
        if text is None:
            await websocket.send_bytes(message.get("bytes") or b"")
        else:
            await websocket.send_text(f"echo {text}")


async def describe_request(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "cookies": request.cookies,
            "content_type": request.headers.get("content-type"),
            "body": body.decode("latin-1"),
            "forwarded_for": request.headers.get("x-forwarded-for"),
        }
    )


app = Starlette(
    routes=[Route("/request", describe_request, methods=["GET", "POST"]), WebSocketRoute("/ws", session)]
)

_invocations = 0

#: Results no API Gateway can turn into a response.
MALFORMED: dict[str, Any] = {
    "/headers-as-list": {"statusCode": 200, "headers": ["x-a: 1"]},
    "/header-with-newline": {"statusCode": 200, "headers": {"x-a": "1\r\nx-injected: 1"}},
    "/cookies-as-text": {"statusCode": 200, "cookies": "a=1"},
    "/status-as-text": {"statusCode": "200"},
    "/unserializable": {"statusCode": 200, "body": {1, 2}},
}


def handler(event: dict[str, Any], context: Any) -> Any:
    """A hand-written Lambda handler: counts its invocations per instance and obeys a few commands."""
    global _invocations  # noqa: PLW0603 - per-instance state is what the tests look at
    _invocations += 1
    folder = os.environ.get(EVENTS_FOLDER_VARIABLE)
    if folder:
        kind = event.get("requestContext", {}).get("eventType", "HTTP")
        name = f"{time.time_ns()}-{os.getpid()}-{kind}.json"
        Path(folder, name).write_text(json.dumps(event))
    kind = event.get("requestContext", {}).get("eventType")
    if kind == "MESSAGE":
        return _message(event["body"])
    if kind is not None:
        return {"statusCode": 200}
    command = event.get("rawPath", "/")
    if command == "/slow":
        time.sleep(float(event.get("queryStringParameters", {}).get("seconds", "1")))
    elif command == "/held":  # until the test creates the gate file (or 60 s)
        gate, deadline = Path(event["queryStringParameters"]["gate"]), time.monotonic() + 60
        while not gate.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    elif command == "/crash":
        os._exit(3)
    elif command == "/inferred":
        return {"inferred": True}
    elif command == "/raise":
        raise RuntimeError("asked to fail")
    elif command in MALFORMED:
        return MALFORMED[command]
    body = {
        "pid": os.getpid(),
        "invocations": _invocations,
        "function_name": context.function_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def _message(body: str) -> dict[str, Any]:
    if body == "raise":
        raise RuntimeError("asked to fail")
    if body.startswith("sleep "):
        time.sleep(float(body.split()[1]))
    return {"statusCode": 200, "body": f"reply to {body}"}
