"""Quart: the documented `except asyncio.CancelledError` runs at the end of every session."""

import asyncio
import logging

from quart import Quart, websocket

from asgiway import EVENT_SCOPE_KEY  # "asgiway.event"

logger = logging.getLogger("chat")
app = Quart(__name__)


@app.websocket("/ws")
async def ws() -> None:
    try:
        while True:
            data = await websocket.receive()
            await websocket.send(data)
    except asyncio.CancelledError:
        if websocket.scope.get(EVENT_SCOPE_KEY) == "disconnect":  # the client really left
            logger.info("the client left")
        raise
