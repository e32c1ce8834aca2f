"""The hooks docs/frameworks.md shows (its snippets, docs/snippets/hooks_*.py, are run as written at
the end): each framework's hook that runs at the end of every session tells the client's real
departure apart by scope["asgiway.event"].

Each app runs one connection through CONNECT, two MESSAGEs and a DISCONNECT (code 1001): the hook
runs at every session's end, and its departure branch exactly once, at the DISCONNECT.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar import Litestar, WebSocket
from litestar.handlers import WebsocketListener
from quart import Quart, websocket
from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket

from asgiway import Adapter
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    message_event,
)
from tests.apps.logging_kept import root_logging_kept
from tests.docs.snippets import load_snippet
from tests.runtime.wsapps import Journal


def starlette_app(journal: Journal) -> Starlette:
    class Chat(WebSocketEndpoint):
        encoding = "text"

        async def on_receive(self, websocket: StarletteWebSocket, data: Any) -> None:
            await websocket.send_text(data)

        async def on_disconnect(self, websocket: StarletteWebSocket, close_code: int) -> None:
            journal.add("hook", websocket.scope["asgiway.event"])
            if websocket.scope["asgiway.event"] == "disconnect":  # the client really left
                journal.add("departure", close_code)

    return Starlette(routes=[WebSocketRoute("/ws", Chat)])


def quart_app(journal: Journal) -> Quart:
    app = Quart(__name__)

    @app.websocket("/ws")
    async def ws() -> None:
        try:
            while True:
                data = await websocket.receive()
                await websocket.send(data)
        except asyncio.CancelledError:
            journal.add("hook", websocket.scope["asgiway.event"])  # type: ignore[typeddict-item]
            if websocket.scope["asgiway.event"] == "disconnect":  # type: ignore[typeddict-item]  # the client really left
                journal.add("departure", None)
            raise

    return app


def litestar_app(journal: Journal) -> Litestar:
    class Handler(WebsocketListener):
        path = "/ws"

        async def on_disconnect(self, socket: WebSocket) -> None:  # type: ignore[type-arg]
            journal.add("hook", socket.scope["asgiway.event"])  # type: ignore[typeddict-item]
            if socket.scope["asgiway.event"] == "disconnect":  # type: ignore[typeddict-item]  # the client really left
                journal.add("departure", None)

        async def on_receive(self, data: str) -> str:
            return data

    return Litestar([Handler])


def channels_app(journal: Journal) -> Any:
    from channels.generic.websocket import AsyncWebsocketConsumer  # type: ignore[import-untyped]

    from tests.apps import django_project  # noqa: F401 - Django's settings before the consumer

    class ChatConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
        async def connect(self) -> None:
            await self.accept()
            if self.scope["asgiway.event"] == "connect":  # the real handshake, once
                journal.add("joined", None)

        async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
            await self.send(text_data=text_data)

        async def disconnect(self, close_code: int) -> None:  # only when the client really left
            journal.add("hook", self.scope["asgiway.event"])
            journal.add("departure", close_code)

    return ChatConsumer.as_asgi()


def run_one_connection(app: Any, dsn: str, api: ConnectionsApiDouble) -> None:
    handler = Adapter(app, dsn=dsn, websocket_path="/ws", api_gateway_endpoint_url=api.endpoint_url)
    assert handler(connect_event("h="), LambdaContextStub())["statusCode"] == 200
    for text in ("one", "two"):
        assert handler(message_event("h=", text), LambdaContextStub())["statusCode"] == 200
    assert handler(disconnect_event("h=", code=1001), LambdaContextStub())["statusCode"] == 200
    assert api.sent("h=") == [b"one", b"two"]


EVERY_SESSION = ["connect", "message", "message", "disconnect"]


@pytest.mark.parametrize(
    ("build", "hook_runs", "departures"),
    [
        (starlette_app, EVERY_SESSION, [1001]),
        (quart_app, EVERY_SESSION, [None]),
        (litestar_app, EVERY_SESSION, [None]),
        (channels_app, ["disconnect"], [1001]),
    ],
    ids=["starlette-on_disconnect", "quart-CancelledError", "litestar-on_disconnect", "channels-disconnect"],
)
def test_a_hook_tells_the_real_departure_apart(
    build: Callable[[Journal], Any],
    hook_runs: list[str],
    departures: list[int | None],
    dsn: str,
    connections_api: ConnectionsApiDouble,
) -> None:
    journal = Journal()
    with root_logging_kept():  # Litestar's app configures logging as it is built
        app = build(journal)
    run_one_connection(app, dsn, connections_api)
    assert journal.hooks("hook") == hook_runs
    assert journal.hooks("departure") == departures


def test_channels_connect_acts_once_per_connection(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    journal = Journal()
    run_one_connection(channels_app(journal), dsn, connections_api)
    assert journal.hooks("joined") == [None]


class Said(logging.Handler):
    """What the guides' snippets say through the "chat" logger (Litestar's app sets up logging for
    the whole process when it starts, so pytest's own capture cannot be relied on)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def said() -> Iterator[Said]:
    chat, handler = logging.getLogger("chat"), Said()
    chat.addHandler(handler)
    chat.setLevel(logging.INFO)
    yield handler
    chat.removeHandler(handler)


SNIPPETS = {
    "replayed_handshake": (["guest: one", "guest: two"], ["guest arrived", "guest left with code 1001"]),
    "hooks_quart": (["one", "two"], ["the client left"]),
    "hooks_litestar": (["one", "two"], ["the client left"]),
    "hooks_channels": (["one", "two"], ["a client arrived", "the client left with code 1001"]),
}


@pytest.mark.parametrize("snippet", list(SNIPPETS))
def test_the_guides_hooks_act_once_per_connection(
    snippet: str, dsn: str, connections_api: ConnectionsApiDouble, said: Said
) -> None:
    """docs/frameworks.md's snippets, as written there: over CONNECT, two MESSAGEs and DISCONNECT,
    what they do at the real handshake and at the real departure happens once each."""
    if snippet == "hooks_channels":
        from tests.apps import django_project  # noqa: F401 - Django's settings before the consumer
    with root_logging_kept():  # Litestar's app configures logging as it is built
        module = load_snippet(snippet)
    app = getattr(module, "application", None) or module.app
    endpoint = connections_api.endpoint_url
    handler = Adapter(app, dsn=dsn, websocket_path="/ws", api_gateway_endpoint_url=endpoint)
    assert handler(connect_event("h="), LambdaContextStub())["statusCode"] == 200
    for text in ("one", "two"):
        assert handler(message_event("h=", text), LambdaContextStub())["statusCode"] == 200
    assert handler(disconnect_event("h=", code=1001), LambdaContextStub())["statusCode"] == 200
    replies, lines = SNIPPETS[snippet]
    assert [frame.decode() for frame in connections_api.sent("h=")] == replies
    assert said.lines == lines
