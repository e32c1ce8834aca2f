"""Litestar's low-level `@websocket` route handler, as its testing documentation writes it, unchanged:
accept, answer one JSON message, close.

https://docs.litestar.dev/latest/usage/testing.html (docs/examples/testing/test_websocket_async.py;
there the handler is defined inside the test, here at module level with its app)
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, WebSocket, websocket


@websocket(path="/ws")
async def websocket_handler(socket: WebSocket[Any, Any, Any]) -> None:
    await socket.accept()
    recv = await socket.receive_json()
    await socket.send_json({"message": recv})
    await socket.close()


app = Litestar([websocket_handler])
