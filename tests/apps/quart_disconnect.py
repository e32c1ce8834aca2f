"""Quart's "Detecting disconnection" WebSocket example, unchanged: a `CancelledError` handler.

https://quart.palletsprojects.com/en/latest/how_to_guides/websockets.html
On Lambda the handler is cancelled at the end of every event's session, not only when the client
leaves; docs/frameworks.md shows how a hook tells the two apart with scope["asgiway.event"].
"""

from __future__ import annotations

import asyncio

from quart import Quart, websocket

app = Quart(__name__)


@app.websocket("/ws")
async def ws() -> None:
    try:
        while True:
            data = await websocket.receive()
            await websocket.send(data)
    except asyncio.CancelledError:
        # Handle disconnection here
        raise
