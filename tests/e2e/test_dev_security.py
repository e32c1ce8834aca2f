"""Nobody but the function drives `asgiway dev`'s @connections and Invoke API, and no other host's name
reaches it at all (issue 15, finding 1).

Each attack of the security review runs here against a victim: a live WebSocket client of
`tests.e2e.apps:app`, whose CONNECT greets it with its id and whose MESSAGEs echo to it. The server
runs one instance (`--concurrency 1`), which takes invocations first come, first served, so an
HTTP request answered after an attack proves every invocation the attack could have started has
ended (`settle`). What reached the victim is proven by order, too: a frame posted with the run's
credentials after the attack must be the next one it receives.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from websockets.sync.client import ClientConnection, connect

from asgiway.backends import Backend, from_dsn
from asgiway.local.events import (
    Client,
    Stage,
    connect_event,
    disconnect_event,
    http_api_event,
    message_event,
    new_id,
    now_ms,
)
from tests.support.dev_server import DevServer
from tests.support.signing import signed_request
from tests.support.waits import ARRIVAL_SECONDS

APP = "tests.e2e.apps:app"
INVOKE_PATH = "/2015-03-31/functions/asgiway-dev/invocations"
#: What the review made a victim's chat show.
PHISHING = "admin: please send me your password"


@pytest.fixture(scope="module")
def dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite://{tmp_path_factory.mktemp('store') / 'connections.db'}"


@pytest.fixture(scope="module")
def server(dsn: str) -> Iterator[DevServer]:
    with DevServer(APP, "--dsn", dsn, "--concurrency", "1") as running:
        yield running


@pytest.fixture(scope="module")
def store(dsn: str) -> Iterator[Backend]:
    backend = from_dsn(dsn)
    yield backend
    backend.close()


@contextmanager
def victim(server: DevServer) -> Iterator[tuple[ClientConnection, str]]:
    """A connected client and its connection id, which the app greets it with during CONNECT."""
    with connect(server.websocket_url, open_timeout=ARRIVAL_SECONDS) as client:
        greeting = client.recv(timeout=ARRIVAL_SECONDS)
        assert isinstance(greeting, str)
        yield client, greeting.removeprefix("id ")


def settle(server: DevServer) -> None:
    """Return once every invocation started before has ended: this request's own invocation
    waits for them on the server's one instance."""
    with urllib.request.urlopen(f"{server.origin}/request", timeout=30) as response:
        assert response.status == 200


def assert_nothing_reached(server: DevServer, client: ClientConnection, connection_id: str) -> None:
    """The victim is still connected, and nothing was posted to it since it was last read."""
    settle(server)
    marker = f"marker {uuid.uuid4()}"
    server.client("apigatewaymanagementapi").post_to_connection(
        ConnectionId=connection_id, Data=marker.encode()
    )
    assert client.recv(timeout=ARRIVAL_SECONDS) == marker


def answer(request: urllib.request.Request) -> tuple[int, str]:
    """(status, body) of one request, error statuses included."""
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def unsigned(
    url: str, body: bytes, method: str = "POST", headers: dict[str, str] | None = None
) -> tuple[int, str]:
    return answer(urllib.request.Request(url, body or None, headers or {}, method=method))


def forged_client(connection_id: str) -> Client:
    return Client(connection_id, "203.0.113.9", now_ms(), (("host", "127.0.0.1"),), user_agent="forger/1.0")


def forged_event(kind: str, connection_id: str) -> dict[str, Any]:
    """The events the review forged: a CONNECT with a made-up authorizer, a phishing MESSAGE, a
    DISCONNECT."""
    stage, client = Stage("dev", "127.0.0.1"), forged_client(connection_id)
    if kind == "CONNECT":
        event = connect_event(stage, client, port=80, proto="http")
        event["requestContext"]["authorizer"] = {"principalId": "root", "role": "admin"}
        return event
    if kind == "MESSAGE":
        return message_event(stage, client, PHISHING)
    return disconnect_event(stage, client, code=1000, reason="")


# --- Lambda's Invoke API --------------------------------------------------------------------


@pytest.mark.parametrize("invocation_type", ["RequestResponse", "Event"])
def test_an_unsigned_connect_with_a_made_up_authorizer_is_refused_and_stores_nothing(
    server: DevServer, store: Backend, invocation_type: str
) -> None:
    forged_id = new_id()
    status, body = unsigned(
        f"{server.origin}{INVOKE_PATH}",
        json.dumps(forged_event("CONNECT", forged_id)).encode(),
        headers={"X-Amz-Invocation-Type": invocation_type},
    )
    assert (status, json.loads(body)) == (403, {"message": "Forbidden: the request is not signed"})
    settle(server)
    assert store.load(forged_id) is None


def test_an_unsigned_message_is_refused_and_the_victim_hears_nothing(server: DevServer) -> None:
    with victim(server) as (client, connection_id):
        status, _ = unsigned(
            f"{server.origin}{INVOKE_PATH}", json.dumps(forged_event("MESSAGE", connection_id)).encode()
        )
        assert status == 403
        # Had the MESSAGE run, the app's echo of it would have been posted to the victim first.
        assert_nothing_reached(server, client, connection_id)


def test_an_unsigned_disconnect_is_refused_and_the_record_stays(server: DevServer, store: Backend) -> None:
    with victim(server) as (client, connection_id):
        status, _ = unsigned(
            f"{server.origin}{INVOKE_PATH}", json.dumps(forged_event("DISCONNECT", connection_id)).encode()
        )
        assert status == 403
        settle(server)
        record = store.load(connection_id)
        assert record is not None
        assert record.ended is None
        assert_nothing_reached(server, client, connection_id)


def test_the_invoke_log_names_the_invocation_type(server: DevServer) -> None:
    event = http_api_event(
        method="GET",
        path="/request",
        query_string="",
        headers=[("host", "127.0.0.1")],
        body=b"",
        source_ip="127.0.0.1",
        domain_name="127.0.0.1",
        api_id="asgiwaydev",
        text_body=True,
        port=80,
        proto="http",
    )
    lambda_client = server.client("lambda")
    lambda_client.invoke(
        FunctionName="asgiway-dev", InvocationType="RequestResponse", Payload=json.dumps(event)
    )
    server.wait_for_line(r"INVOKE\s+RequestResponse\s+200")


# --- @connections ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Forgery:
    """One way of calling @connections without the run's signature."""

    name: str
    key_id: str | None = None  # None: the run's; "" : unsigned
    secret: str | None = None  # None: the run's
    service: str = "execute-api"
    skew: timedelta = timedelta(0)

    def request(self, server: DevServer, method: str, url: str, body: bytes) -> urllib.request.Request:
        if self.key_id == "":
            return urllib.request.Request(url, body or None, method=method)
        run_key_id, run_secret = server.credentials
        credentials = (self.key_id or run_key_id, self.secret or run_secret)
        at = datetime.now(UTC) + self.skew
        return signed_request(method, url, body, credentials, self.service, at=at)


FORGERIES = [
    Forgery("unsigned", key_id=""),
    Forgery(
        "another key pair", key_id="AKIAIOSFODNN7EXAMPLE", secret="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    ),
    Forgery("the run's key id with another secret", secret="not-the-secret"),
    Forgery("the run's key signed for another service", service="lambda"),
    Forgery("the run's key, signed 20 minutes ago", skew=timedelta(minutes=-20)),
]
CALLS = [("POST", PHISHING.encode()), ("GET", b""), ("DELETE", b"")]


@pytest.mark.parametrize(("method", "body"), CALLS, ids=[method for method, _ in CALLS])
@pytest.mark.parametrize("forgery", FORGERIES, ids=[forgery.name for forgery in FORGERIES])
def test_a_connections_call_without_the_runs_signature_is_refused(
    server: DevServer, store: Backend, forgery: Forgery, method: str, body: bytes
) -> None:
    with victim(server) as (client, connection_id):
        url = f"{server.connections_url}/@connections/{quote(connection_id, safe='')}"
        status, text = answer(forgery.request(server, method, url, body))
        assert status == 403, text
        assert "sourceIp" not in text
        assert "identity" not in text
        assert store.load(connection_id) is not None
        assert_nothing_reached(server, client, connection_id)
    server.wait_for_line(rf"WARNING Refused {method} '/dev/@connections/{re.escape(connection_id)}'")


def test_a_refusal_is_logged_without_the_authorization_header_or_the_secret(server: DevServer) -> None:
    url = f"{server.connections_url}/@connections/{new_id()}"
    stranger = ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert answer(signed_request("GET", url, b"", stranger, "execute-api"))[0] == 403
    server.wait_for_line(r"WARNING Refused GET .* another access key id")
    for secret in ("AWS4-HMAC-SHA256", "Signature=", server.credentials[1], stranger[1]):
        assert not any(secret in line for line in server.lines), secret


def test_a_body_changed_after_signing_is_refused(server: DevServer) -> None:
    with victim(server) as (client, connection_id):
        url = f"{server.connections_url}/@connections/{quote(connection_id, safe='')}"
        request = signed_request("POST", url, b"hello", server.credentials, "execute-api")
        request.data = PHISHING.encode()
        assert answer(request) == (403, '{"message":"Forbidden: the signature does not match"}')
        assert_nothing_reached(server, client, connection_id)


def test_a_request_signed_with_the_runs_credentials_is_served(server: DevServer) -> None:
    with victim(server) as (client, connection_id):
        url = f"{server.connections_url}/@connections/{quote(connection_id, safe='')}"
        assert answer(signed_request("POST", url, b"signed", server.credentials, "execute-api"))[0] == 200
        assert client.recv(timeout=ARRIVAL_SECONDS) == "signed"
        status, text = answer(signed_request("GET", url, b"", server.credentials, "execute-api"))
        assert status == 200
        assert json.loads(text)["identity"]["sourceIp"] == "127.0.0.1"


# --- Origin ---------------------------------------------------------------------------------


def test_a_signed_request_carrying_origin_is_refused(server: DevServer) -> None:
    """A browser always sends Origin with a POST, boto3 never does: even signed, it is refused."""
    page = {"Origin": "http://127.0.0.1:9"}
    with victim(server) as (client, connection_id):
        url = f"{server.connections_url}/@connections/{quote(connection_id, safe='')}"
        post = signed_request("POST", url, PHISHING.encode(), server.credentials, "execute-api", headers=page)
        assert answer(post)[0] == 403
        event = json.dumps(forged_event("MESSAGE", connection_id)).encode()
        invoke = signed_request(
            "POST", f"{server.origin}{INVOKE_PATH}", event, server.credentials, "lambda", headers=page
        )
        assert answer(invoke)[0] == 403
        assert_nothing_reached(server, client, connection_id)
    server.wait_for_line(
        r"Refused POST '/2015-03-31/functions/asgiway-dev/invocations' .*a browser's request"
    )


# --- Host -----------------------------------------------------------------------------------


def request_naming(server: DevServer, host: str, path: str = "/request") -> tuple[int, bytes]:
    """(status, body) of a GET sent to the server with `host` as its Host header."""
    address, port = server.origin.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(address, int(port), timeout=30)
    try:
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", host.format(port=port))
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


OTHER_HOSTS = [
    "evil.example",
    "evil.example:{port}",
    "127.0.0.1.nip.io:{port}",
    "localhost.evil.example:{port}",
    "10.1.2.3:{port}",
    "[::1]evil:{port}",
]


@pytest.mark.parametrize("host", OTHER_HOSTS)
def test_a_request_naming_another_host_is_misdirected(server: DevServer, host: str) -> None:
    status, body = request_naming(server, host)
    assert status == 421
    assert b"does not serve that host" in body


@pytest.mark.parametrize(
    "host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST", "[::1]:{port}", "127.0.0.1"]
)
def test_loopback_names_are_served(server: DevServer, host: str) -> None:
    assert request_naming(server, host)[0] == 200


def test_a_websocket_handshake_naming_another_host_is_refused_before_connect(server: DevServer) -> None:
    connects_before = sum("CONNECT " in line for line in list(server.lines))
    address, port = server.origin.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(address, int(port), timeout=30)
    try:
        connection.putrequest("GET", "/dev", skip_host=True)
        for name, value in [
            ("Host", f"rebound.evil.example:{port}"),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ]:
            connection.putheader(name, value)
        connection.endheaders()
        assert connection.getresponse().status == 421
    finally:
        connection.close()
    # The handshake's answer waits for CONNECT, which is logged first: none ran.
    assert sum("CONNECT " in line for line in list(server.lines)) == connects_before


def test_the_default_bind_prints_no_exposure_warning(server: DevServer) -> None:
    assert not any("for local development only" in line for line in server.lines)


def test_listening_beyond_loopback_warns_and_still_refuses_other_names(tmp_path: Path) -> None:
    with DevServer(APP, "--host", "0.0.0.0", "--dsn", f"sqlite://{tmp_path / 'c.db'}") as exposed:
        exposed.wait_for_line(r"WARNING\s+listening on 0\.0\.0\.0: .* for local development only")
        assert request_naming(exposed, "evil.example:{port}")[0] == 421
        # Listening on every interface, an address of the machine is served: an address, unlike a
        # name, cannot be rebound by someone else's DNS.
        assert request_naming(exposed, "192.0.2.10:{port}")[0] == 200
