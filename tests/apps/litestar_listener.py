"""Litestar's class-based `WebsocketListener` ("WebSockets" documentation, async version), unchanged.

https://docs.litestar.dev/latest/usage/websockets.html
(docs/examples/websockets/listener_class_based_async.py)
Its on_disconnect runs when each event's session ends (in a finally block), not only when the
client leaves; docs/frameworks.md shows how to tell them apart with scope["asgiway.event"].
"""

from __future__ import annotations

from litestar import Litestar, WebSocket
from litestar.handlers import WebsocketListener


class Handler(WebsocketListener):
    path = "/"

    async def on_accept(self, socket: WebSocket) -> None:  # type: ignore[type-arg]
        print("Connection accepted")

    async def on_disconnect(self, socket: WebSocket) -> None:  # type: ignore[type-arg]
        print("Connection closed")

    async def on_receive(self, data: str) -> str:
        return data


app = Litestar([Handler])
