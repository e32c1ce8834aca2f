"""Where `asgiway dev` was found to differ from AWS's captures and quotas, now as AWS does it:
a client frame over 32 KB and a message over 128 KB close with 1009 "Message too big", and an HTTP
API event for a request without a body says `content-length: 0`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.e2e.apps import EVENTS_FOLDER_VARIABLE
from tests.e2e.test_dev_http import fetch
from tests.support.dev_server import DevServer

KB = 1024


@pytest.fixture(scope="module")
def server() -> Iterator[DevServer]:
    with DevServer("tests.e2e.apps:app") as running:
        yield running


def closed_by_server(server: DevServer, message: str | list[str]) -> tuple[int, str]:
    """Send `message` (a list: one message in those frames); the server's close code and reason."""
    with connect(server.websocket_url, open_timeout=10, max_size=None) as client:
        assert str(client.recv(timeout=10)).startswith("id ")
        client.send(message)
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(timeout=10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def test_a_frame_over_32_kb_closes_with_1009(server: DevServer) -> None:
    assert closed_by_server(server, "x" * (32 * KB + 1)) == (1009, "Message too big")


def test_a_message_over_128_kb_in_32_kb_frames_closes_with_1009(server: DevServer) -> None:
    assert closed_by_server(server, ["x" * (32 * KB)] * 5) == (1009, "Message too big")


def test_a_message_of_32_kb_frames_within_128_kb_reaches_the_app(server: DevServer) -> None:
    with connect(server.websocket_url, open_timeout=10, max_size=None) as client:
        assert str(client.recv(timeout=10)).startswith("id ")
        client.send(["x" * (32 * KB)] * 3)
        assert client.recv(timeout=10) == "echo " + "x" * (96 * KB)


def test_an_http_event_without_a_body_says_content_length_0(tmp_path: Path) -> None:
    with DevServer("tests.e2e.apps:handler", environment={EVENTS_FOLDER_VARIABLE: str(tmp_path)}) as server:
        status, _, _ = fetch(f"{server.origin}/plain")
    assert status == 200
    (event,) = [json.loads(path.read_text()) for path in tmp_path.glob("*-HTTP.json")]
    assert event["headers"]["content-length"] == "0"
    assert "body" not in event
