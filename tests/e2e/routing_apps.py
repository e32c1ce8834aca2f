"""Apps whose WebSocket routes leave `asgiway dev` no path to choose by itself."""

from __future__ import annotations

from fastapi import FastAPI, WebSocket

#: FastAPI's documented path-parameter WebSocket route: the path needs a value for `item_id`.
items = FastAPI()


@items.websocket("/items/{item_id}/ws")
async def item_updates(websocket: WebSocket, item_id: str) -> None:
    await websocket.accept()
    await websocket.send_text(f"watching {item_id}")
    await websocket.receive_text()
