"""FastAPI's first WebSocket example ("WebSockets" tutorial): accept, then echo every text frame."""

from __future__ import annotations

from fastapi import FastAPI, WebSocket

app = FastAPI()


@app.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        data = await websocket.receive_text()
        await websocket.send_text(f"Message text was: {data}")
