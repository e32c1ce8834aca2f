"""Each guide's snippet (docs/snippets) run through the handler, on the recorded AWS events.

The store is a sqlite file of the test's own and @connections the loopback double, reached as the
snippets reach them once deployed: DSN_URL and boto3's endpoint variable, set in the environment.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from asgiway import Adapter
from asgiway.backends import from_dsn
from asgiway.testing import ConnectionsApiDouble, LambdaContextStub
from tests.docs import events
from tests.docs.snippets import load_snippet


@pytest.fixture
def deployed_like(
    dsn: str, connections_api: ConnectionsApiDouble, monkeypatch: pytest.MonkeyPatch
) -> ConnectionsApiDouble:
    """The environment a deployed function has: its store's dsn and its @connections endpoint."""
    monkeypatch.setenv("DSN_URL", dsn)
    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", connections_api.endpoint_url)
    return connections_api


def answered(handler: Adapter, event: dict[str, Any], status: int = 200) -> dict[str, Any]:
    reply: dict[str, Any] = handler(event, LambdaContextStub())
    assert reply["statusCode"] == status, reply
    return reply


def heard(connections_api: ConnectionsApiDouble, connection_id: str) -> list[str]:
    return [frame.decode() for frame in connections_api.sent(connection_id)]


def test_serve_an_app_answers_http_and_websocket_events(
    deployed_like: ConnectionsApiDouble, dsn: str
) -> None:
    handler = load_snippet("serve_an_app").handler
    assert answered(handler, events.http_get("/hello", "name=ada"))["body"] == "hello, ada"

    answered(handler, events.connect())
    answered(handler, events.message("first"))
    answered(handler, events.message("second"))
    answered(handler, events.disconnect())
    assert heard(deployed_like, events.RECORDED_ID) == ["echo: first", "echo: second"]
    assert from_dsn(dsn).connections() == []


def test_the_replayed_handshake_runs_the_apps_arrival_and_departure_once(
    deployed_like: ConnectionsApiDouble, dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    handler = Adapter(load_snippet("replayed_handshake").app, dsn=dsn, websocket_path="/ws")
    with caplog.at_level(logging.INFO, logger="chat"):
        answered(handler, events.connect(name="ada"))
        answered(handler, events.message("one"))
        answered(handler, events.message("two"))
        answered(handler, events.disconnect(going_away=True))
    # Four events replayed the handshake four times, and Starlette's on_disconnect ran at the
    # end of each session: the app acted on the real arrival and the real departure only.
    assert [r.getMessage() for r in caplog.records if r.name == "chat"] == [
        "ada arrived",
        "ada left with code 1001",
    ]
    assert heard(deployed_like, events.RECORDED_ID) == ["ada: one", "ada: two"]


def test_a_broadcast_reaches_its_room_only(deployed_like: ConnectionsApiDouble, dsn: str) -> None:
    handler = Adapter(load_snippet("rooms").app, dsn=dsn, websocket_path="/ws")
    for client, room in (("ada=", "lobby"), ("bob=", "lobby"), ("cy=", "garden")):
        answered(handler, events.connect(client, room=room))
    answered(handler, events.message("hi, lobby", "ada="))
    answered(handler, events.message("anyone?", "cy="))
    assert heard(deployed_like, "ada=") == ["hi, lobby"]
    assert heard(deployed_like, "bob=") == ["hi, lobby"]
    assert heard(deployed_like, "cy=") == ["anyone?"]
    assert sorted(from_dsn(dsn).members("lobby")) == ["ada=", "bob="]


def test_a_broadcast_reports_what_it_could_not_deliver(
    dsn: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with ConnectionsApiDouble(statuses={"bob=": 403}) as refusing:
        monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", refusing.endpoint_url)
        handler = Adapter(load_snippet("rooms").app, dsn=dsn, websocket_path="/ws")
        for client in ("ada=", "bob="):
            answered(handler, events.connect(client, room="lobby"))
        with caplog.at_level(logging.WARNING, logger="chat"):
            answered(handler, events.message("hello", "ada="))
        assert heard(refusing, "ada=") == ["hello"]
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "chat"]
    assert warning.startswith("not delivered in lobby: {'bob=': ")


def test_a_scheduled_job_reaches_a_room_from_outside_any_event(
    deployed_like: ConnectionsApiDouble, dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = Adapter(load_snippet("rooms").app, dsn=dsn, websocket_path="/ws")
    for client, room in (("ada=", "lobby"), ("bob=", "lobby"), ("cy=", "garden")):
        answered(app, events.connect(client, room=room))

    monkeypatch.setenv("CONNECTIONS_URL", deployed_like.endpoint_url)
    job = load_snippet("scheduled_job").handler
    assert job({"text": "maintenance at noon"}, None) == {"sent": 2, "gone": [], "failed": {}}
    assert heard(deployed_like, "ada=") == heard(deployed_like, "bob=") == ["maintenance at noon"]
    assert heard(deployed_like, "cy=") == []


def test_two_way_replies_come_back_in_the_lambda_response(
    deployed_like: ConnectionsApiDouble,
) -> None:
    handler = load_snippet("two_way_replies").handler
    answered(handler, events.connect())
    reply = answered(handler, events.message("hello", default_route=True))
    assert reply["body"] == "HELLO"
    assert deployed_like.calls_of("POST") == [], "the reply cost no @connections call"


def test_your_own_store_serves_a_room(deployed_like: ConnectionsApiDouble) -> None:
    load_snippet("own_store")
    handler = Adapter(load_snippet("rooms").app, dsn="memory://docs-rooms", websocket_path="/ws")
    for client in ("ada=", "bob="):
        answered(handler, events.connect(client, room="lobby"))
    answered(handler, events.message("on my own store", "bob="))
    answered(handler, events.disconnect("bob="))
    assert heard(deployed_like, "ada=") == heard(deployed_like, "bob=") == ["on my own store"]
    assert handler.backend is not None
    assert repr(handler.backend) == "MemoryBackend(memory://docs-rooms)"
    assert handler.backend.members("lobby") == ["ada="]
    assert handler.backend.connections() == ["ada="]


def test_the_testing_guides_test_passes(tmp_path: Path) -> None:
    load_snippet("testing_your_app").test_every_client_hears_a_message(tmp_path)
