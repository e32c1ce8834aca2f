"""Quart's first WebSocket example ("Using websockets"), unchanged: echo every frame.

https://quart.palletsprojects.com/en/latest/how_to_guides/websockets.html
Quart's reader task takes each frame and asks for the next one at once, while the handler task
still has the frame to send back: asgiway ends the session only once the handler is parked again.
"""

from __future__ import annotations

from quart import Quart, websocket

app = Quart(__name__)


@app.websocket("/ws")
async def ws() -> None:
    while True:
        data = await websocket.receive()
        await websocket.send(data)
