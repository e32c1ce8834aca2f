"""Litestar's `websocket_listener` receiving JSON ("WebSockets" documentation), unchanged.

https://docs.litestar.dev/latest/usage/websockets.html (docs/examples/websockets/receive_json.py)
"""

from __future__ import annotations

from litestar import Litestar, websocket_listener


@websocket_listener("/")
async def handler(data: dict[str, str]) -> dict[str, str]:
    return data


app = Litestar([handler])
