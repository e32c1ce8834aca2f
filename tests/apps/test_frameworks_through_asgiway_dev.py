"""Every framework's documented WebSocket apps, unchanged, through `asgiway dev` with real clients.

No test waits to see that nothing more comes: each ends with a marker frame, whose answer must be
the very next frame, so a duplicate or a stray frame shows at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from tests.apps.frameworks import ECHO_APPS, EchoApp
from tests.support.dev_server import DevServer

MESSAGES = 3
#: Channels' AllowedHostsOriginValidator wants a browser's Origin that ALLOWED_HOSTS lists.
BROWSER = Origin("http://127.0.0.1:8000")


@pytest.mark.parametrize("echo", ECHO_APPS, ids=[app.name for app in ECHO_APPS])
def test_a_documented_echo_answers_every_frame_once_and_in_order(echo: EchoApp) -> None:
    with (
        DevServer(echo.target, "--websocket-path", echo.websocket_path) as server,
        connect(server.websocket_url) as first,
        connect(server.websocket_url) as second,
    ):
        for client in (first, second):
            for number in range(MESSAGES):
                client.send(echo.frame(number))
            answers = [echo.read(client.recv(timeout=10)) for _ in range(MESSAGES)]
            assert answers == echo.expected(range(MESSAGES))
            client.send(echo.frame(99))
            assert echo.read(client.recv(timeout=10)) == echo.expected(range(99, 100))[0]


def test_a_quart_handler_that_awaits_before_accepting() -> None:
    with DevServer("tests.apps.quart_loads_before_accepting:app", "--websocket-path", "/ws") as server:
        with pytest.raises(InvalidStatus) as refused:
            connect(f"{server.websocket_url}?user=eve", open_timeout=10)
        assert refused.value.response.status_code == 403
        with connect(f"{server.websocket_url}?user=ada") as client:
            for text in ("one", "two", "three"):
                client.send(text)
            assert [client.recv(timeout=10) for _ in range(3)] == [
                "Ada Lovelace: one",
                "Ada Lovelace: two",
                "Ada Lovelace: three",
            ]


def test_litestars_websocket_handler_answers_then_closes() -> None:
    with (
        DevServer("tests.apps.litestar_websocket:app", "--websocket-path", "/ws") as server,
        connect(server.websocket_url) as client,
    ):
        client.send(json.dumps({"hello": "world"}))
        assert json.loads(client.recv(timeout=10)) == {"message": {"hello": "world"}}
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=10)


@pytest.fixture(
    params=["tests.apps.channels_chat:application", "tests.apps.channels_sync_chat:application"],
    ids=["async-consumer", "sync-consumer"],
)
def chat_server(request: pytest.FixtureRequest) -> Iterator[DevServer]:
    with DevServer(request.param, "--websocket-path", "/ws/chat/lobby/") as server:
        yield server


def said(client: ClientConnection) -> Any:
    return json.loads(client.recv(timeout=10))["message"]


def test_channels_tutorial_chat_reaches_every_member_once_and_in_order(chat_server: DevServer) -> None:
    """What one visitor types reaches every visitor of #lobby, its own page included, each
    message once and in order: the others through asynchronous invocations of the function."""
    url = chat_server.websocket_url.replace("/dev", "/ws/chat/lobby/")
    with (
        connect(url, origin=BROWSER) as ada,
        connect(url, origin=BROWSER) as bob,
        connect(url, origin=BROWSER) as cy,
    ):
        everyone = (ada, bob, cy)
        ada.send(json.dumps({"message": "hello from ada"}))
        assert [said(client) for client in everyone] == ["hello from ada"] * 3
        bob.send(json.dumps({"message": "bob here"}))
        assert [said(client) for client in everyone] == ["bob here"] * 3
        cy.send(json.dumps({"message": "the end"}))
        assert [said(client) for client in everyone] == ["the end"] * 3
