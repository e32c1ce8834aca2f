"""Django Channels' `AsyncConsumer` echo ("Consumers" documentation), unchanged; served as the
consumer itself (`EchoConsumer.as_asgi()`), with the tutorial project's settings.

https://channels.readthedocs.io/en/stable/topics/consumers.html
"""

# The docs' code, verbatim: not ours to annotate for the type checker.
# mypy: ignore-errors
# fmt: off
# Settings first, as the import below says, so imports are not sorted:
# ruff: noqa: I001
from tests.apps import django_project  # noqa: F401 - settings before any consumer runs

from channels.consumer import AsyncConsumer


class EchoConsumer(AsyncConsumer):

    async def websocket_connect(self, event):
        await self.send({
            "type": "websocket.accept",
        })

    async def websocket_receive(self, event):
        await self.send({
            "type": "websocket.send",
            "text": event["text"],
        })


application = EchoConsumer.as_asgi()
