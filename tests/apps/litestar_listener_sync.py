"""Litestar's class-based `WebsocketListener` ("WebSockets" documentation, sync version), unchanged.

https://docs.litestar.dev/latest/usage/websockets.html (docs/examples/websockets/listener_class_based.py)
"""

from __future__ import annotations

from litestar import Litestar, WebSocket
from litestar.handlers import WebsocketListener


class Handler(WebsocketListener):
    path = "/"

    def on_accept(self, socket: WebSocket) -> None:  # type: ignore[type-arg]
        print("Connection accepted")

    def on_disconnect(self, socket: WebSocket) -> None:  # type: ignore[type-arg]
        print("Connection closed")

    def on_receive(self, data: str) -> str:
        return data


app = Litestar([Handler])
