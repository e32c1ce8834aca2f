"""The documented apps, unchanged, through the Adapter as Lambda runs them (sqlite, loopback @connections)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from asgiway import Adapter
from asgiway.backends import from_dsn
from asgiway.deferred import wait_for_delivery
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    message_event,
)
from tests.apps import fastapi_auth, fastapi_chat, fastapi_echo, starlette_json


def serve(app: Any, dsn: str, api: ConnectionsApiDouble, websocket_path: str) -> Adapter:
    return Adapter(app, dsn=dsn, websocket_path=websocket_path, api_gateway_endpoint_url=api.endpoint_url)


def event_ok(handler: Adapter, event: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = handler(event, LambdaContextStub())
    assert reply["statusCode"] == 200, reply
    return reply


def test_fastapis_echo(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    handler = serve(fastapi_echo.app, dsn, connections_api, "/ws")
    event_ok(handler, connect_event("e="))
    for text in ("one", "two"):
        event_ok(handler, message_event("e=", text))
    # The documented loop lets WebSocketDisconnect escape at the real disconnect: how it ends.
    event_ok(handler, disconnect_event("e=", code=1001))
    assert connections_api.sent("e=") == [b"Message text was: one", b"Message text was: two"]
    assert from_dsn(dsn).load("e=") is None


def test_fastapis_token_or_cookie_dependency(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    """The dependency runs at every event's replayed handshake. By default the store keeps no
    credential, so later events see the token's and the cookie's names with asgiway's marker for
    their values: the documented presence check passes, the value is not there to be leaked."""
    handler = serve(fastapi_auth.app, dsn, connections_api, "/items/foo/ws")
    with caplog.at_level(logging.WARNING, logger="asgiway"):
        refused = handler(connect_event("anon="), LambdaContextStub())
    assert refused == {"statusCode": 403, "body": "Forbidden"}
    assert caplog.records == [], "a refusal by the app's own check is no routing problem"

    event_ok(handler, connect_event("tok=", query={"token": ["some-token"], "q": ["5"]}))
    event_ok(handler, message_event("tok=", "hi"))
    assert connections_api.sent("tok=") == [
        b"Session cookie or query token value is: asgiway:not-stored",
        b"Query parameter q is: 5",
        b"Message text was: hi, for item ID: foo",
    ]
    event_ok(handler, connect_event("ck=", headers={"Cookie": "session=cookie-value"}))
    event_ok(handler, message_event("ck=", "yo"))
    assert connections_api.sent("ck=") == [
        b"Session cookie or query token value is: asgiway:not-stored",
        b"Message text was: yo, for item ID: foo",
    ]


def test_fastapis_token_example_with_its_credentials_stored(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """An app that must check the credential again at every event names it in stored_credentials."""
    handler = Adapter(
        fastapi_auth.app,
        dsn=dsn,
        websocket_path="/items/foo/ws",
        api_gateway_endpoint_url=connections_api.endpoint_url,
        stored_credentials=["token", "cookie"],
    )
    event_ok(handler, connect_event("tok=", query={"token": ["some-token"]}))
    event_ok(handler, message_event("tok=", "hi"))
    assert connections_api.sent("tok=")[0] == b"Session cookie or query token value is: some-token"


@pytest.fixture
def chat_manager() -> Iterator[fastapi_chat.ConnectionManager]:
    """The docs app's module-level manager, emptied around the test (the module is imported once)."""
    fastapi_chat.manager.active_connections.clear()
    yield fastapi_chat.manager
    fastapi_chat.manager.active_connections.clear()


def test_fastapis_connection_manager_fails_loudly_and_never_delivers_twice(
    dsn: str,
    connections_api: ConnectionsApiDouble,
    caplog: pytest.LogCaptureFixture,
    chat_manager: fastapi_chat.ConnectionManager,
) -> None:
    """The list holds WebSockets of events that are over: the broadcast raises SessionEndedError
    (a 500 that says to use Connections) rather than posting to an old session or twice."""
    handler = serve(fastapi_chat.app, dsn, connections_api, "/ws/7")
    event_ok(handler, connect_event("a="))
    event_ok(handler, connect_event("b="))
    with caplog.at_level(logging.ERROR, logger="asgiway"):
        failed = handler(message_event("a=", "hi"), LambdaContextStub())
        handler(message_event("a=", "again"), LambdaContextStub())
    assert failed == {"statusCode": 500, "body": "Internal Server Error"}
    errors = [record for record in caplog.records if record.exc_info]
    assert errors
    assert all(type(record.exc_info[1]).__name__ == "SessionEndedError" for record in errors)  # type: ignore[index]
    assert "Connections" in str(errors[0].exc_info[1])  # type: ignore[index]
    # The personal message went to the live session, once each; the broadcast reached no one.
    assert connections_api.sent("a=") == [b"You wrote: hi", b"You wrote: again"]
    assert connections_api.sent("b=") == []


def test_starlettes_json_endpoint(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    handler = serve(starlette_json.app, dsn, connections_api, "/ws")
    event_ok(handler, connect_event("j="))
    event_ok(handler, message_event("j=", json.dumps({"n": [1, 2]})))
    assert [json.loads(frame) for frame in connections_api.sent("j=")] == [{"echo": {"n": [1, 2]}}]
    # Not JSON: the endpoint closes with 1003 and raises, as on any server: the connection is closed.
    reply = handler(message_event("j=", "not json"), LambdaContextStub())
    assert reply["statusCode"] == 500
    assert [call.connection_id for call in connections_api.calls_of("DELETE")] == ["j="]


def test_accepting_then_closing_at_connect_delivers_the_frames_then_closes(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    """An app that accepts, says why in a frame, then closes with 4401 (a common pattern, since a
    browser sees no reason for a refused handshake): the handshake succeeds, the frame arrives,
    then @connections closes the connection; no live connection is kept."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps({"error": "token expired"})})
        await send({"type": "websocket.close", "code": 4401})

    handler = Adapter(app, dsn=dsn, api_gateway_endpoint_url=connections_api.endpoint_url, lifespan="off")
    with caplog.at_level(logging.INFO, logger="asgiway"):
        assert handler(connect_event("x="), LambdaContextStub()) == {"statusCode": 200}
    wait_for_delivery("x=")
    assert [(call.method, call.data) for call in connections_api.calls if call.connection_id == "x="] == [
        ("POST", b'{"error": "token expired"}'),
        ("DELETE", b""),
    ]
    # No live connection: only a record marked closed, so that its DISCONNECT is known as expected.
    store = from_dsn(dsn)
    tombstone = store.load("x=")
    assert tombstone is not None
    assert tombstone.ended == "closed"
    assert store.connections() == []
    assert "then closed it with code 4401" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="asgiway"):
        assert handler(disconnect_event("x=", code=1000), LambdaContextStub()) == {"statusCode": 200}
    assert store.load("x=") is None
    assert [record.levelname for record in caplog.records] == ["DEBUG"]
