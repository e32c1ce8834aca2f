"""Route selection through `asgiway dev`, with real clients: each message reaches the route its body
selects, as API Gateway's route selection expression picks it, or `$default`, or no route at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.support.dev_server import DevServer

APP = "tests.e2e.route_apps:app"


@pytest.fixture(scope="module")
def server() -> Iterator[DevServer]:
    with DevServer(APP, "--route", "sendmessage", "--route", "42") as running:
        yield running


@pytest.fixture(scope="module")
def nested_server() -> Iterator[DevServer]:
    """Routes chosen by a nested path, and no `$default` route."""
    arguments = ["--route-selection-expression", "${request.body.meta.kind}", "--route", "chat.post"]
    with DevServer(APP, *arguments, "--no-default-route") as running:
        yield running


def exchange(client: ClientConnection, text: str) -> dict[str, Any]:
    client.send(text)
    reply = json.loads(client.recv(timeout=10))
    assert isinstance(reply, dict)
    return reply


def test_a_declared_route_is_selected_by_the_action(server: DevServer) -> None:
    with connect(server.websocket_url, open_timeout=10) as client:
        body = json.dumps({"action": "sendmessage", "data": "hi"})
        reply = exchange(client, body)
    assert reply == {
        "route": "sendmessage",
        "event_route": "sendmessage",
        "body": body,
        "scope_authorizer": None,
        "event_authorizer": None,
    }
    server.wait_for_line(r"MESSAGE\s+\S+\s+sendmessage\s+200\b")


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"action": "unknown", "data": "hi"}),
        "not json at all",
        json.dumps({"data": "no action"}),
        json.dumps({"action": {"nested": "object"}}),
        json.dumps(["action", "sendmessage"]),
    ],
    ids=["unknown action", "not JSON", "missing key", "object value", "array body"],
)
def test_anything_else_falls_back_to_default(server: DevServer, body: str) -> None:
    with connect(server.websocket_url, open_timeout=10) as client:
        reply = exchange(client, body)
    assert (reply["route"], reply["event_route"], reply["body"]) == ("$default", "$default", body)


def test_an_unknown_action_is_named_in_the_log(server: DevServer) -> None:
    with connect(server.websocket_url, open_timeout=10) as client:
        exchange(client, json.dumps({"action": "sendmesage"}))
    server.wait_for_line(r"MESSAGE\s+\S+\s+\$default\s+200\b.*no route 'sendmesage' \(see --route\)")


def test_a_number_is_stringified_before_matching(server: DevServer) -> None:
    with connect(server.websocket_url, open_timeout=10) as client:
        assert exchange(client, json.dumps({"action": 42}))["route"] == "42"


def test_a_nested_path_selects_its_route(nested_server: DevServer) -> None:
    with connect(nested_server.websocket_url, open_timeout=10) as client:
        reply = exchange(client, json.dumps({"meta": {"kind": "chat.post"}, "text": "hello"}))
    assert reply["route"] == "chat.post"


@pytest.mark.parametrize(
    "body",
    [json.dumps({"meta": {"kind": "other"}}), json.dumps({"kind": "chat.post"}), "plain text"],
    ids=["unknown value", "path not found", "not JSON"],
)
def test_without_a_default_route_an_unmatched_message_gets_the_forbidden_frame(
    nested_server: DevServer, body: str
) -> None:
    with connect(nested_server.websocket_url, open_timeout=10) as client:
        client.send(body)
        frame = client.recv(timeout=10)
        # The connection stays open, and a routed message still reaches the app afterwards: the
        # Forbidden frame came from the gateway, in order, not from a failed invocation.
        routed = exchange(client, json.dumps({"meta": {"kind": "chat.post"}}))
    assert isinstance(frame, str)
    assert frame.startswith('{"message": "Forbidden", "connectionId":"')
    error = json.loads(frame)
    assert set(error) == {"message", "connectionId", "requestId"}
    assert routed["route"] == "chat.post"
    nested_server.wait_for_line(rf"MESSAGE\s+{error['connectionId']}\s+\(no route\)\s+403\b")


def test_the_banner_lists_the_routes(server: DevServer, nested_server: DevServer) -> None:
    server.wait_for_line(r"routes\s+42, sendmessage, \$default \(by \$request\.body\.action\)")
    nested_server.wait_for_line(r"routes\s+chat\.post \(by \$\{request\.body\.meta\.kind\}\)")
