"""Consumers of our own for the channel layer's tests: what the tutorial's chat does not show."""

from __future__ import annotations

import threading
from typing import Any

from channels.generic.websocket import (  # type: ignore[import-untyped]
    AsyncWebsocketConsumer,
    WebsocketConsumer,
)

from tests.apps import django_project  # noqa: F401 - Django's settings before any consumer runs

#: Set by a test to let StuckConsumer's handler go.
RELEASE = threading.Event()


class DirectConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """Says its channel name at CONNECT; "to CHANNEL TEXT" sends TEXT to that one channel."""

    async def connect(self) -> None:
        await self.accept()
        if self.scope["asgiway.event"] == "connect":
            await self.send(text_data=f"me {self.channel_name}")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        assert text_data is not None
        if text_data == "unsendable":
            await self.channel_layer.send(self.channel_name, {"type": "direct.message", "text": object()})
            return
        _, channel, text = text_data.split(" ", 2)
        await self.channel_layer.send(
            channel, {"type": "direct.message", "text": text, "from": self.channel_name}
        )

    async def direct_message(self, event: dict[str, Any]) -> None:
        await self.send(text_data=f"{event['text']} from {event['from']} ({self.scope['asgiway.event']})")


class StuckConsumer(WebsocketConsumer):  # type: ignore[misc]
    """A sync consumer whose handler blocks, for "stick", until RELEASE is set."""

    def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data == "stick":
            RELEASE.wait(30)
        self.send(text_data=f"done {text_data}")


direct = DirectConsumer.as_asgi()
stuck = StuckConsumer.as_asgi()


class InMemoryConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """An echo on a layer other than asgiway's (the alias a test gives Channels' in-memory layer)."""

    channel_layer_alias = "memory"

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data)


in_memory = InMemoryConsumer.as_asgi()
