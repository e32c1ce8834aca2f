"""A Starlette app with an HTTP route and a WebSocket, served by one Lambda handler."""

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"hello, {request.query_params.get('name', 'world')}")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(f"echo: {text}")


app = Starlette(routes=[Route("/hello", hello), WebSocketRoute("/ws", echo)])

# The CDK construct sets DSN_URL (its DynamoDB table by default); sqlite serves a local run.
handler = Adapter(app, dsn=os.environ.get("DSN_URL", "sqlite:///tmp/connections.db"), websocket_path="/ws")
