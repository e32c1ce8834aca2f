"""Litestar: a WebsocketListener's on_disconnect runs at the end of every session."""

import logging
from typing import Any

from litestar import Litestar, WebSocket
from litestar.handlers import WebsocketListener

from asgiway import EVENT_SCOPE_KEY  # "asgiway.event"

logger = logging.getLogger("chat")


class Echo(WebsocketListener):
    path = "/ws"

    async def on_receive(self, data: str) -> str:
        return data

    async def on_disconnect(self, socket: WebSocket[Any, Any, Any]) -> None:
        if socket.scope.get(EVENT_SCOPE_KEY) == "disconnect":  # the client really left
            logger.info("the client left")


app = Litestar([Echo])
