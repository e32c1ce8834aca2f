"""Starlette's `WebSocketEndpoint` ("Endpoints" documentation) with `encoding = "json"`: frames are
decoded as JSON, and one that is not JSON closes the connection with 1003."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket


class Echo(WebSocketEndpoint):
    encoding = "json"

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_json({"echo": data})

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        pass


app = Starlette(routes=[WebSocketRoute("/ws", Echo)])
