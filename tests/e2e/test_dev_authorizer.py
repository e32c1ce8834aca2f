"""A `$connect` Lambda authorizer through `asgiway dev`, with real clients: Allow lets the handshake
through with its context reaching the app, Deny is 403, `Unauthorized` 401, a missing identity
source 401 without a call, and a broken authorizer 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.e2e.route_apps import AUTHORIZER_CALLS_VARIABLE
from tests.support.dev_server import DevServer

APP = "tests.e2e.route_apps:app"
AUTHORIZER = "tests.e2e.route_apps:authorize"


@pytest.fixture(scope="module")
def calls_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("authorizer") / "calls.jsonl"


@pytest.fixture(scope="module")
def server(calls_file: Path) -> Iterator[DevServer]:
    arguments = [
        "--authorizer",
        AUTHORIZER,
        "--authorizer-identity-source",
        "route.request.querystring.token",
    ]
    with DevServer(APP, *arguments, environment={AUTHORIZER_CALLS_VARIABLE: str(calls_file)}) as running:
        yield running


def refused_status(server: DevServer, query: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{server.websocket_url}{query}", open_timeout=10)
    return refused.value.response.status_code


def test_an_allow_policy_connects_with_its_context_reaching_the_app(server: DevServer) -> None:
    with connect(f"{server.websocket_url}?token=ada", open_timeout=10) as client:
        client.send("who am i")
        reply = json.loads(client.recv(timeout=10))
    expected = {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:asgiwaydev/dev/$connect",
        "connection": "Upgrade",
        "contentLength": "0",
        "routeKey": "$connect",
        "stageVariables": "{}",
        "level": 3,
        "admin": False,
        "principalId": "user-ada",
    }
    # Every event of the connection carries it, and the adapter hands it to the app.
    assert reply["event_authorizer"] == expected
    assert reply["scope_authorizer"] == expected
    server.wait_for_line(r"AUTHORIZE\s+\S+\s+\$connect\s+200\b.*principalId user-ada")


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("?token=t&as=deny", 403),
        ("?token=t&as=unauthorized", 401),
        ("?token=t&as=raise", 500),
        ("?token=t&as=malformed", 500),
        ("?token=t&as=nested-context", 500),
    ],
    ids=["deny", "Unauthorized", "raises", "malformed policy", "nested context"],
)
def test_a_refusing_or_failing_authorizer_refuses_the_handshake(
    server: DevServer, query: str, status: int
) -> None:
    assert refused_status(server, query) == status


def test_a_broken_authorizer_is_explained_in_the_log(server: DevServer) -> None:
    assert refused_status(server, "?token=t&as=raise") == 500
    server.wait_for_line(r"Refused \S+ with 500: the authorizer failed: RuntimeError: the authorizer broke")
    assert refused_status(server, "?token=t&as=malformed") == 500
    server.wait_for_line(r"Refused \S+ with 500: the authorizer's policy is malformed: policyDocument")


def test_a_missing_identity_source_is_401_without_calling_the_authorizer(
    server: DevServer, calls_file: Path
) -> None:
    assert refused_status(server, "?as=allow&marker=missing") == 401
    assert refused_status(server, "?token=&as=allow&marker=empty") == 401
    # Called after the two refusals: had either reached the authorizer, its line would come first.
    assert refused_status(server, "?token=t&as=deny&marker=called") == 403
    markers = [json.loads(line).get("marker") for line in calls_file.read_text().splitlines()]
    assert "missing" not in markers
    assert "empty" not in markers
    assert "called" in markers
    server.wait_for_line(r"AUTHORIZE\s+\S+\s+\$connect\s+401\b.*no route\.request\.querystring\.token")


def test_the_authorizer_runs_at_every_handshake(server: DevServer, calls_file: Path) -> None:
    """Not cached: the same token twice is two calls."""
    for _ in range(2):
        with connect(f"{server.websocket_url}?token=same&marker=twice", open_timeout=10):
            pass
    markers = [json.loads(line).get("marker") for line in calls_file.read_text().splitlines()]
    assert markers.count("twice") == 2
