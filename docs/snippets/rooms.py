"""Rooms: each client joins the room its query string names, and messages go to the whole room."""

import logging

from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import EVENT_SCOPE_KEY
from asgiway.connections import Connections

logger = logging.getLogger("chat")


class Chat(WebSocketEndpoint):
    encoding = "text"

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        if websocket.scope[EVENT_SCOPE_KEY] == "connect":
            websocket.state.room = websocket.query_params.get("room", "lobby")
            await Connections.of(websocket).join(websocket.state.room)

    async def on_receive(self, websocket: WebSocket, data: str) -> None:
        result = await Connections.of(websocket).broadcast(data, room=websocket.state.room)
        # result.sent reached their client, result.gone had left (and are out of every room now),
        # result.failed maps the others to why, after retries: a broadcast never raises for them.
        if result.failed:
            logger.warning("not delivered in %s: %s", websocket.state.room, result.failed)


app = Starlette(routes=[WebSocketRoute("/ws", Chat)])
