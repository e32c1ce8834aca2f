"""Real WebSocket clients against `asgiway dev`: handshakes, echo, broadcast, closes from either side."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Close
from websockets.sync.client import ClientConnection, connect

from tests.support.dev_server import DevServer
from tests.support.waits import ARRIVAL_SECONDS

APP = "tests.e2e.apps:app"


@pytest.fixture(scope="module")
def server() -> Iterator[DevServer]:
    with DevServer(APP) as running:
        yield running


@contextmanager
def joined(server: DevServer, query: str = "", **options: Any) -> Iterator[tuple[ClientConnection, str]]:
    """A connected client and its connection id, which the app sends first."""
    with connect(f"{server.websocket_url}{query}", open_timeout=ARRIVAL_SECONDS, **options) as client:
        greeting = client.recv(timeout=ARRIVAL_SECONDS)
        assert isinstance(greeting, str)
        assert greeting.startswith("id ")
        yield client, greeting.removeprefix("id ")


def close_received(client: ClientConnection) -> Close:
    """The close frame the server sends next."""
    with pytest.raises(ConnectionClosed) as closed:
        client.recv(timeout=ARRIVAL_SECONDS)
    assert closed.value.rcvd is not None
    return closed.value.rcvd


def talk_until_closed(client: ClientConnection) -> Close:
    """Keep the client busy (never idle) until the server closes it."""
    with pytest.raises(ConnectionClosed) as closed:
        _talk_forever(client)
    assert closed.value.rcvd is not None
    return closed.value.rcvd


def _talk_forever(client: ClientConnection) -> None:
    while True:
        client.send("busy")
        client.recv(timeout=ARRIVAL_SECONDS)
        time.sleep(0.2)


def test_the_handshake_waits_for_connect_and_the_app_echoes(server: DevServer) -> None:
    with joined(server) as (client, connection_id):
        client.send("hello")
        assert client.recv(timeout=ARRIVAL_SECONDS) == "echo hello"
        client.send("again")
        assert client.recv(timeout=ARRIVAL_SECONDS) == "echo again"
    server.wait_for_line(rf"CONNECT\s+{connection_id}\s+\$connect\s+200")
    server.wait_for_line(rf"MESSAGE\s+{connection_id}\s+\$default\s+200")


def test_any_path_reaches_the_same_api(server: DevServer) -> None:
    with connect(
        f"{server.origin.replace('http', 'ws', 1)}/ws/any/where", open_timeout=ARRIVAL_SECONDS
    ) as client:
        assert str(client.recv(timeout=ARRIVAL_SECONDS)).startswith("id ")


@pytest.mark.parametrize(("query", "status"), [("?deny=close", 403), ("?deny=401", 401), ("?deny=429", 429)])
def test_a_denied_connect_refuses_the_handshake_with_its_status(
    server: DevServer, query: str, status: int
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{server.websocket_url}{query}", open_timeout=ARRIVAL_SECONDS)
    assert refused.value.response.status_code == status


def test_the_connect_response_selects_the_subprotocol(server: DevServer) -> None:
    with joined(server, subprotocols=["chat.v1", "chat.v2"]) as (client, _):
        assert client.subprotocol == "chat.v2"


def test_messages_from_one_client_are_handled_in_the_order_sent(server: DevServer) -> None:
    with joined(server) as (client, _):
        for number in range(30):
            client.send(str(number))
        assert [client.recv(timeout=ARRIVAL_SECONDS) for _ in range(30)] == [f"echo {n}" for n in range(30)]


def test_a_server_side_close_closes_the_client_and_reports_the_disconnect(server: DevServer) -> None:
    with joined(server) as (client, connection_id):
        client.send("close")
        # API Gateway's DELETE @connections carries no code: the client sees a normal closure.
        assert close_received(client).code == 1000
    server.wait_for_line(
        rf"DISCONNECT\s+{connection_id}\s+\$disconnect\s+200 .*1000 Connection Closed Normally"
    )


def test_a_client_close_code_and_reason_reach_the_app(server: DevServer) -> None:
    with joined(server, "?room=codes") as (watcher, _), joined(server, "?room=codes") as (leaver, leaver_id):
        leaver.close(4001, "bye for now")
        assert watcher.recv(timeout=ARRIVAL_SECONDS) == "closed 4001 bye for now"
    server.wait_for_line(rf"DISCONNECT\s+{leaver_id}\s+.*4001 bye for now")


def test_a_close_without_status_is_reported_as_api_gateway_does(server: DevServer) -> None:
    with joined(server, "?room=bare") as (watcher, _), joined(server, "?room=bare") as (leaver, _):
        with leaver.protocol_mutex:
            leaver.protocol.send_close()  # a close frame with no status code
            leaver.send_data()
        assert watcher.recv(timeout=ARRIVAL_SECONDS) == "closed 1005 Client-side close frame status not set"


def test_a_binary_frame_closes_the_connection_with_1003(server: DevServer) -> None:
    with joined(server) as (client, connection_id):
        client.send(b"\x00\x01")
        close = close_received(client)
    assert (close.code, close.reason) == (1003, "Unsupported data")
    server.wait_for_line(rf"DISCONNECT\s+{connection_id}\s+.*1003 Unsupported data")


def test_a_message_over_128_kb_closes_with_1009(server: DevServer) -> None:
    with joined(server) as (client, _):
        client.send("x" * (128 * 1024 + 1))
        assert close_received(client).code == 1009


def test_binary_frames_pass_when_allowed() -> None:
    with DevServer(APP, "--allow-binary") as server, joined(server) as (client, _):
        client.send(b"\x00\xff")
        assert client.recv(timeout=ARRIVAL_SECONDS) == b"\x00\xff"


def test_idle_and_maximum_durations_close_with_1001() -> None:
    # Quiet clients, never greeted: the greeting comes through an asynchronous invocation, often
    # a cold start, which a busy runner can hold past a timeout this short, closing the client
    # before its greeting. Without it the server hears only what the test does: nothing at all,
    # then, under the age limit, nothing but the test's messages. Each clock starts before the
    # handshake, so a close can come no sooner than its limit, however slow the machine.
    with DevServer(APP, "--idle-timeout", "1", "--max-duration", "30") as idle:
        started = time.monotonic()
        with connect(f"{idle.websocket_url}?quiet=1", open_timeout=ARRIVAL_SECONDS) as client:
            close = close_received(client)
        assert (close.code, close.reason) == (1001, "Going away")
        assert 1 <= time.monotonic() - started < 5
    with DevServer(APP, "--idle-timeout", "30", "--max-duration", "1.5") as aged:
        started = time.monotonic()
        with connect(f"{aged.websocket_url}?quiet=1", open_timeout=ARRIVAL_SECONDS) as client:
            close = talk_until_closed(client)
        assert (close.code, close.reason) == (1001, "Going away")
        assert 1.5 <= time.monotonic() - started < 5


def test_a_failing_message_sends_api_gateways_error_frame_and_keeps_the_connection() -> None:
    with (
        DevServer("tests.e2e.apps:handler") as server,
        connect(server.websocket_url, open_timeout=ARRIVAL_SECONDS) as client,
    ):
        client.send("raise")
        frame = json.loads(client.recv(timeout=ARRIVAL_SECONDS))
        assert frame["message"] == "Internal server error"
        assert set(frame) == {"message", "connectionId", "requestId"}
        assert len(frame["connectionId"]) == 16
        # No route response: a handler's result never reaches the client. A second "raise" is
        # the marker: MESSAGE events run one at a time in the order sent, so a reply to "fine"
        # would come before the marker's error frame, which must be the very next frame.
        client.send("fine")
        client.send("raise")
        marker = client.recv(timeout=ARRIVAL_SECONDS)
        assert isinstance(marker, str)
        assert marker.startswith('{"message": "Internal server error"'), f"not the marker: {marker!r}"
        assert json.loads(marker)["requestId"] != frame["requestId"]


def test_two_way_replies_send_the_result_body_back() -> None:
    with (
        DevServer("tests.e2e.apps:handler", "--two-way-replies") as server,
        connect(server.websocket_url, open_timeout=ARRIVAL_SECONDS) as client,
    ):
        client.send("ping")
        assert client.recv(timeout=ARRIVAL_SECONDS) == "reply to ping"


def test_the_echo_example_runs_as_deployed_through_its_own_handler() -> None:
    with (
        DevServer("examples.echo.app:handler") as server,
        connect(server.websocket_url, open_timeout=ARRIVAL_SECONDS) as client,
    ):
        client.send("hi")
        assert client.recv(timeout=ARRIVAL_SECONDS) == "Message text was: hi"
    assert any("a Lambda handler, served as deployed" in line for line in server.lines)
