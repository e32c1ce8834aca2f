"""The documented apps, unchanged, through `asgiway dev` with real WebSocket clients."""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.support.dev_server import DevServer
from tests.support.waits import ARRIVAL_SECONDS


def test_fastapis_echo() -> None:
    with DevServer("tests.apps.fastapi_echo:app") as server, connect(server.websocket_url) as client:
        for text in ("one", "two"):
            client.send(text)
            assert client.recv(timeout=ARRIVAL_SECONDS) == f"Message text was: {text}"


def test_fastapis_token_or_cookie_dependency() -> None:
    with DevServer("tests.apps.fastapi_auth:app", "--websocket-path", "/items/foo/ws") as server:
        with pytest.raises(InvalidStatus) as refused:
            connect(server.websocket_url, open_timeout=ARRIVAL_SECONDS)
        assert refused.value.response.status_code == 403
        with connect(f"{server.websocket_url}?token=some-token&q=5") as client:
            client.send("hi")
            assert [client.recv(timeout=ARRIVAL_SECONDS) for _ in range(3)] == [
                "Session cookie or query token value is: asgiway:not-stored",  # stored without it
                "Query parameter q is: 5",
                "Message text was: hi, for item ID: foo",
            ]


def test_fastapis_connection_manager_fails_loudly_and_never_delivers_twice() -> None:
    """Each message brings its personal reply once; the failed broadcast sends nothing (API Gateway
    passes a MESSAGE's 500 to no one without a route response) and the log says why. Each next
    frame answers the next message: nothing came in between."""
    with (
        DevServer("tests.apps.fastapi_chat:app", "--websocket-path", "/ws/7", "--concurrency", "1") as server,
        connect(server.websocket_url) as ada,
        connect(server.websocket_url) as bob,
    ):
        for text in ("hi", "again", "third"):
            ada.send(text)
            assert ada.recv(timeout=ARRIVAL_SECONDS) == f"You wrote: {text}"
        bob.send("me")
        assert bob.recv(timeout=ARRIVAL_SECONDS) == "You wrote: me", (
            "bob got no broadcast before his own reply"
        )
        server.wait_for_line(r"SessionEndedError: This WebSocket belongs to an API Gateway event")
        assert len([line for line in server.lines if " MESSAGE " in line and " 500 " in line]) >= 3


def test_starlettes_json_endpoint() -> None:
    with DevServer("tests.apps.starlette_json:app") as server, connect(server.websocket_url) as client:
        client.send(json.dumps({"n": [1, 2]}))
        assert json.loads(client.recv(timeout=ARRIVAL_SECONDS)) == {"echo": {"n": [1, 2]}}
        client.send("not json")
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=ARRIVAL_SECONDS)
