"""The three kinds of app the WebSocket tests drive: Starlette endpoint, FastAPI route, raw ASGI."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket


class Journal:
    """What an app saw, across events: each entry a (hook, detail) pair."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any]] = []

    def add(self, hook: str, detail: Any = None) -> None:
        self.entries.append((hook, detail))

    def hooks(self, name: str) -> list[Any]:
        return [detail for hook, detail in self.entries if hook == name]


def starlette_echo(journal: Journal) -> Starlette:
    class Echo(WebSocketEndpoint):
        encoding = "text"

        async def on_connect(self, websocket: StarletteWebSocket) -> None:
            journal.add("connect", websocket.scope["asgiway.event"])
            await websocket.accept()
            if websocket.scope["asgiway.event"] == "connect":
                journal.add("first-connect")

        async def on_receive(self, websocket: StarletteWebSocket, data: Any) -> None:
            journal.add("receive", data)
            await websocket.send_text(f"Message text was: {data}")

        async def on_disconnect(self, websocket: StarletteWebSocket, close_code: int) -> None:
            journal.add("on_disconnect", (websocket.scope["asgiway.event"], close_code))

    return Starlette(routes=[WebSocketRoute("/ws", Echo)])


def fastapi_echo(journal: Journal) -> FastAPI:
    app = FastAPI()

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                data = await websocket.receive_text()
                journal.add("receive", data)
                await websocket.send_text(data.upper())
        except WebSocketDisconnect as exc:
            journal.add("WebSocketDisconnect", exc.code)

    return app
