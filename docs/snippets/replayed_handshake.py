"""Telling the real handshake and the real departure apart from their replays."""

import logging

from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import EVENT_SCOPE_KEY  # "asgiway.event"

logger = logging.getLogger("chat")


class Chat(WebSocketEndpoint):
    encoding = "text"

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        if websocket.scope[EVENT_SCOPE_KEY] == "connect":  # the real handshake, once
            websocket.state.name = websocket.query_params.get("name", "guest")
            logger.info("%s arrived", websocket.state.name)

    async def on_receive(self, websocket: WebSocket, data: str) -> None:
        # Set at CONNECT, stored with the connection, back in every later event.
        await websocket.send_text(f"{websocket.state.name}: {data}")

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        if websocket.scope[EVENT_SCOPE_KEY] == "disconnect":  # the client really left
            logger.info("%s left with code %d", websocket.state.name, close_code)


app = Starlette(routes=[WebSocketRoute("/ws", Chat)])
