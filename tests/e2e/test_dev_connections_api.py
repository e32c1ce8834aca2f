"""@connections under `asgiway dev`, through boto3 as the adapter calls it (with the run's credentials)."""

from __future__ import annotations

import base64
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from botocore.config import Config
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests.support.dev_server import DevServer
from tests.support.signing import signed_request
from tests.support.waits import ARRIVAL_SECONDS


@pytest.fixture(scope="module")
def server() -> Iterator[DevServer]:
    with DevServer("tests.e2e.apps:app") as running:
        yield running


@pytest.fixture
def api(server: DevServer) -> Any:
    config = Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5)
    return server.client("apigatewaymanagementapi", config=config)


def test_post_reaches_the_live_client_and_get_describes_it(server: DevServer, api: Any) -> None:
    with connect(server.websocket_url, open_timeout=ARRIVAL_SECONDS, user_agent_header="probe/1.0") as client:
        connection_id = str(client.recv(timeout=ARRIVAL_SECONDS)).removeprefix("id ")
        api.post_to_connection(ConnectionId=connection_id, Data=b"from the server")
        assert client.recv(timeout=ARRIVAL_SECONDS) == "from the server"
        described = api.get_connection(ConnectionId=connection_id)
    assert isinstance(described["ConnectedAt"], datetime)
    assert described["LastActiveAt"] >= described["ConnectedAt"]
    assert described["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "probe/1.0"}


def test_delete_closes_the_client_and_the_id_is_gone_after(server: DevServer, api: Any) -> None:
    with connect(server.websocket_url, open_timeout=ARRIVAL_SECONDS) as client:
        connection_id = str(client.recv(timeout=ARRIVAL_SECONDS)).removeprefix("id ")
        response = api.delete_connection(ConnectionId=connection_id)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=ARRIVAL_SECONDS)
    with pytest.raises(api.exceptions.GoneException):
        api.post_to_connection(ConnectionId=connection_id, Data=b"too late")


@pytest.mark.parametrize("call", ["post_to_connection", "get_connection", "delete_connection"])
def test_an_unknown_id_is_gone_as_botocore_understands_it(api: Any, call: str) -> None:
    arguments: dict[str, Any] = {"ConnectionId": "AAAAAAAAAAAAAAA="}
    if call == "post_to_connection":
        arguments["Data"] = b"hello?"
    with pytest.raises(api.exceptions.GoneException):
        getattr(api, call)(**arguments)


def test_a_frame_over_128_kb_is_refused_with_413(server: DevServer, api: Any) -> None:
    with connect(server.websocket_url, open_timeout=ARRIVAL_SECONDS) as client:
        connection_id = str(client.recv(timeout=ARRIVAL_SECONDS)).removeprefix("id ")
        with pytest.raises(api.exceptions.PayloadTooLargeException):
            api.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))
        api.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024))
        assert client.recv(timeout=ARRIVAL_SECONDS) == "x" * (128 * 1024)


def test_the_path_without_the_stage_works_and_another_stage_is_forbidden(server: DevServer) -> None:
    with connect(server.websocket_url, open_timeout=ARRIVAL_SECONDS) as client:
        connection_id = str(client.recv(timeout=ARRIVAL_SECONDS)).removeprefix("id ")
        plain = signed_request(
            "POST",
            f"{server.origin}/@connections/{connection_id}",
            b"no stage",
            server.credentials,
            "execute-api",
        )
        with urllib.request.urlopen(plain, timeout=ARRIVAL_SECONDS) as response:
            assert response.status == 200
        assert client.recv(timeout=ARRIVAL_SECONDS) == "no stage"
        other = signed_request(
            "POST",
            f"{server.origin}/prod/@connections/{connection_id}",
            b"x",
            server.credentials,
            "execute-api",
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(other, timeout=ARRIVAL_SECONDS)
        assert refused.value.code == 403


def test_a_send_during_connect_arrives_through_lambdas_invoke_api(server: DevServer) -> None:
    # The app's greeting is sent during CONNECT: on Lambda and here it travels through an
    # asynchronous self-invocation once the handshake is through.
    with connect(server.websocket_url, open_timeout=ARRIVAL_SECONDS) as client:
        connection_id = str(client.recv(timeout=ARRIVAL_SECONDS)).removeprefix("id ")
    server.wait_for_line(rf"INVOKE\s+{connection_id}\s+Event\s+200")


def stalled_client(server: DevServer) -> tuple[socket.socket, str]:
    """A WebSocket client that completes the handshake, reads its greeting, then never reads again."""
    host, port = server.origin.removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)), timeout=ARRIVAL_SECONDS)
    key = base64.b64encode(os.urandom(16)).decode()
    client.sendall(
        f"GET /dev HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    received = b""
    while b"id " not in received or not received.endswith(b"="):
        received += client.recv(4096)
    assert received.startswith(b"HTTP/1.1 101")
    return client, received.rsplit(b"id ", 1)[1].decode()


def test_a_client_that_stops_reading_never_blocks_posts_and_is_closed_in_the_end(
    server: DevServer, api: Any
) -> None:
    client, connection_id = stalled_client(server)
    frame = b"x" * 64 * 1024
    with client:
        started = time.monotonic()
        answers = []
        for _ in range(5000):
            try:
                api.post_to_connection(ConnectionId=connection_id, Data=frame)
            except api.exceptions.GoneException:
                answers.append(410)
                break
            answers.append(200)
        elapsed = time.monotonic() - started
    assert answers[-1] == 410, "a client that reads nothing is closed once its frames pile up"
    assert elapsed < 30, f"{len(answers)} posts took {elapsed:.1f} s: a post waited for the client"
    server.wait_for_line(rf"DISCONNECT\s+{connection_id}\s+.*1001 Going away")


def test_a_refused_handshake_carries_the_functions_answer(server: DevServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{server.websocket_url}?deny=401", open_timeout=ARRIVAL_SECONDS)
    response = refused.value.response
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/plain")
    assert response.body == b"not you"


#: The keep-alive test's idle timeout. Its posts must follow one another, and the handshake,
#: within it: one post and the read of its frame take milliseconds, a few tenths of a second
#: on a loaded runner, so 2 s leaves room several times over, where 1 s did not.
KEEP_ALIVE_IDLE_SECONDS = 2.0
#: The pause between keep-alive posts: a frame now and then, well within the idle timeout.
KEEP_ALIVE_PAUSE_SECONDS = 0.2


def logged_connection_id(server: DevServer) -> str:
    """The id of the server's one connection, read from its log of the CONNECT."""
    pattern = r"CONNECT\s+(?P<id>\S+)\s+\$connect\s+200"
    found = re.search(pattern, server.wait_for_line(pattern))
    assert found is not None
    return found["id"]


def test_frames_posted_to_a_quiet_client_keep_it_open_past_the_idle_timeout() -> None:
    """API Gateway's 10-minute idle timeout counts messages either way: a server that posts a
    keep-alive frame now and then keeps a client open that sends nothing."""
    with DevServer("tests.e2e.apps:app", "--idle-timeout", f"{KEEP_ALIVE_IDLE_SECONDS:g}") as quick:
        # Made before the handshake: making it takes a good part of a second, all of it idle time.
        poster = quick.client("apigatewaymanagementapi")
        # A quiet client gets no greeting: the greeting comes through an asynchronous invocation
        # that a busy runner can hold past the idle timeout, and the emulator counts idleness
        # from the handshake. The id comes from the emulator's log instead.
        with connect(f"{quick.websocket_url}?quiet=1", open_timeout=ARRIVAL_SECONDS) as client:
            connection_id = logged_connection_id(quick)
            started = time.monotonic()
            while time.monotonic() - started < 2 * KEEP_ALIVE_IDLE_SECONDS + 0.5:
                poster.post_to_connection(ConnectionId=connection_id, Data=b"keep-alive")
                assert client.recv(timeout=5) == "keep-alive"
                time.sleep(KEEP_ALIVE_PAUSE_SECONDS)
            with pytest.raises(ConnectionClosed) as closed:  # then, quiet both ways, it is closed
                client.recv(timeout=ARRIVAL_SECONDS)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "Going away")
