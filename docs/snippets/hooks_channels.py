"""Django Channels: `connect` runs at every event (the handshake is replayed), `disconnect` only
when the client really left."""

import logging

from channels.generic.websocket import AsyncWebsocketConsumer  # type: ignore[import-untyped]

from asgiway import EVENT_SCOPE_KEY  # "asgiway.event"

logger = logging.getLogger("chat")


class Echo(AsyncWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        await self.accept()
        if self.scope[EVENT_SCOPE_KEY] == "connect":  # the real handshake, once
            logger.info("a client arrived")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data, bytes_data=bytes_data)

    async def disconnect(self, code: int) -> None:  # only when the client really left
        logger.info("the client left with code %d", code)


application = Echo.as_asgi()
