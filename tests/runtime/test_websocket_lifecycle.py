"""CONNECT → MESSAGE×n → DISCONNECT through the Adapter, on sqlite, with a loopback @connections."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fastapi import FastAPI, WebSocketException, status
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount, WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter
from asgiway.backends import from_dsn
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    message_event,
)
from tests.runtime.wsapps import Journal, fastapi_echo, starlette_echo

CONNECTION = "Ab1=Cd2+Ef/3="


def adapter_for(app: Any, dsn: str, api: ConnectionsApiDouble, **options: Any) -> Adapter:
    return Adapter(app, dsn=dsn, websocket_path="/ws", api_gateway_endpoint_url=api.endpoint_url, **options)


def test_starlette_endpoint_through_a_whole_connection(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    journal = Journal()
    handler = adapter_for(starlette_echo(journal), dsn, connections_api)

    assert handler(connect_event(CONNECTION), LambdaContextStub()) == {"statusCode": 200}
    for text in ("one", "two", "three"):
        assert handler(message_event(CONNECTION, text), LambdaContextStub()) == {"statusCode": 200}
    assert handler(disconnect_event(CONNECTION, code=1001, reason="going away"), LambdaContextStub()) == {
        "statusCode": 200
    }

    assert connections_api.sent(CONNECTION) == [
        b"Message text was: one",
        b"Message text was: two",
        b"Message text was: three",
    ]
    assert journal.hooks("receive") == ["one", "two", "three"]
    assert journal.hooks("connect") == ["connect", "message", "message", "message", "disconnect"]
    assert len(journal.hooks("first-connect")) == 1
    # on_disconnect sits in a finally: it runs at every session's end, and the scope says which is real.
    assert journal.hooks("on_disconnect") == [
        ("connect", 1000),
        ("message", 1000),
        ("message", 1000),
        ("message", 1000),
        ("disconnect", 1001),
    ]
    assert from_dsn(dsn).load(CONNECTION) is None


def test_fastapi_disconnect_handler_runs_only_when_the_client_left(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    journal = Journal()
    handler = adapter_for(fastapi_echo(journal), dsn, connections_api)

    handler(connect_event(CONNECTION), LambdaContextStub())
    handler(message_event(CONNECTION, "hello"), LambdaContextStub())
    handler(message_event(CONNECTION, "again"), LambdaContextStub())
    assert journal.hooks("WebSocketDisconnect") == []
    handler(disconnect_event(CONNECTION, code=4001), LambdaContextStub())

    assert journal.hooks("WebSocketDisconnect") == [4001]
    assert connections_api.sent(CONNECTION) == [b"HELLO", b"AGAIN"]


def test_the_fixtures_drive_a_connection(
    dsn: str, connections_api: ConnectionsApiDouble, aws_event: Any
) -> None:
    connect = aws_event("websocket-connect.json")
    message = aws_event("websocket-message.json")
    disconnect = aws_event("websocket-disconnect.json")
    connection_id = connect["requestContext"]["connectionId"]
    # The three fixtures are one connection's events: nothing to patch for them to follow each other.
    assert {event["requestContext"]["connectionId"] for event in (message, disconnect)} == {connection_id}
    seen: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        event = await receive()
        seen.append({"scope": scope, "event": event})
        if event["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": json.loads(event["text"])["message"]})

    handler = adapter_for(app, dsn, connections_api)
    assert handler(connect, LambdaContextStub())["statusCode"] == 200
    assert handler(message, LambdaContextStub())["statusCode"] == 200
    assert handler(disconnect, LambdaContextStub())["statusCode"] == 200

    assert connections_api.sent(connection_id) == [b"Bonjour from the fixture"]
    at_message, at_disconnect = seen
    scope = at_message["scope"]
    assert scope["type"] == "websocket"
    assert scope["path"] == "/ws"
    assert scope["scheme"] == "wss"
    # The Host header, not requestContext.domainName: the fixture gives them different values.
    assert scope["server"] == ("chat.asgiway.example", 443)
    assert scope["client"] == ("203.0.113.45", 0)
    assert (b"x-forwarded-proto", b"https") in scope["headers"]
    assert (b"sec-websocket-key", b"RnaAzjbaabWyHqhshhrOGQ==") in scope["headers"]
    assert scope["aws.event"] is message
    assert scope["asgiway.event"] == "message"
    assert at_disconnect["event"] == {
        "type": "websocket.disconnect",
        "code": 1005,
        "reason": "Client-side close frame status not set",
    }


def test_the_fuller_message_and_disconnect_fixtures_are_accepted(
    dsn: str, connections_api: ConnectionsApiDouble, aws_event: Any
) -> None:
    message = aws_event("websocket-message-default-route.json")
    disconnect = aws_event("websocket-disconnect-going-away.json")
    connection_id = message["requestContext"]["connectionId"]
    received: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        received.append(await receive())

    handler = adapter_for(app, dsn, connections_api)
    handler(connect_event(connection_id), LambdaContextStub())
    assert handler(message, LambdaContextStub()) == {"statusCode": 200}
    assert handler(disconnect, LambdaContextStub()) == {"statusCode": 200}
    assert received == [
        {"type": "websocket.receive", "text": '{\r\n\t"op": "ping",\r\n\t"seq": 7\r\n}'},
        {"type": "websocket.disconnect", "code": 1001, "reason": ""},
    ]


def test_connect_scope_survives_to_later_events(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    scopes: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        scopes.append(scope)
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "chat.v2"})
        await receive()

    handler = adapter_for(app, dsn, connections_api, lifespan="off")
    connect = connect_event(
        CONNECTION,
        headers={"Authorization": "Bearer x", "Cookie": "a=1"},
        query={"room": ["lobby"], "tag": ["a b", "c&d"]},
        subprotocols=["chat.v1", "chat.v2"],
        authorizer={"principalId": "user-7", "plan": "pro"},
    )
    reply = handler(connect, LambdaContextStub())
    assert reply == {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": "chat.v2"}}
    later = message_event(CONNECTION, "hi")
    handler(later, LambdaContextStub())

    first, second = scopes
    for scope in (first, second):
        assert scope["query_string"] == b"room=lobby&tag=a+b&tag=c%26d"
        assert scope["subprotocols"] == ["chat.v1", "chat.v2"]
        assert scope["aws.authorizer"] == {"principalId": "user-7", "plan": "pro"}
        assert scope["raw_path"] == b"/ws"
    # Credentials reach the real CONNECT only; the store never held them (see test_stored_credentials).
    assert (b"authorization", b"Bearer x") in first["headers"]
    assert (b"cookie", b"a=1") in first["headers"]
    assert (b"authorization", b"Bearer asgiway:not-stored") in second["headers"]
    assert (b"cookie", b"a=asgiway:not-stored") in second["headers"]
    assert first["aws.event"] is connect
    assert first["asgiway.event"] == "connect"
    assert second["aws.event"] is later
    assert second["asgiway.event"] == "message"


def test_equals_in_connection_ids_is_percent_encoded(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    handler = adapter_for(starlette_echo(Journal()), dsn, connections_api)
    handler(connect_event(CONNECTION), LambdaContextStub())
    handler(message_event(CONNECTION, "x"), LambdaContextStub())
    (call,) = connections_api.calls_of("POST")
    assert call.connection_id == CONNECTION
    assert call.path.endswith("/@connections/Ab1%3DCd2%2BEf%2F3%3D")
    assert call.path.startswith("/test/")
    assert call.headers["Authorization"].startswith("AWS4-HMAC-SHA256")


def test_lifespan_runs_once_and_its_state_reaches_every_session(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    startups: list[int] = []
    states: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            startups.append(1)
            scope["state"]["pool"] = object()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await receive()
        await send({"type": "websocket.accept"})
        states.append(dict(scope["state"]))
        scope["state"]["name"] = "ada"
        await receive()

    handler = adapter_for(app, dsn, connections_api)
    handler(connect_event(CONNECTION), LambdaContextStub())
    handler(message_event(CONNECTION, "1"), LambdaContextStub())
    handler(message_event(CONNECTION, "2"), LambdaContextStub())

    assert startups == [1]
    assert all("pool" in state for state in states)
    record = from_dsn(dsn).load(CONNECTION)
    assert record is not None
    assert record.state == {"name": "ada"}  # lifespan state is never persisted
    assert states[1]["name"] == "ada"
    handler.close()


@pytest.mark.parametrize("make_app", [starlette_echo, fastapi_echo])
def test_a_second_container_continues_the_connection(
    dsn: str, connections_api: ConnectionsApiDouble, make_app: Any
) -> None:
    first = adapter_for(make_app(Journal()), dsn, connections_api)
    second = adapter_for(make_app(Journal()), dsn, connections_api)
    first(connect_event(CONNECTION), LambdaContextStub())
    assert second(message_event(CONNECTION, "moved"), LambdaContextStub()) == {"statusCode": 200}
    assert len(connections_api.sent(CONNECTION)) == 1


def chat_at(path: str) -> Starlette:
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.receive_text()

    return Starlette(routes=[WebSocketRoute(path, chat)])


def test_a_websocket_path_matching_no_route_is_a_warning_naming_both(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    """The app's route is /ws, the Adapter left at "/": Starlette's router closes the handshake
    unread, so every CONNECT is a 403, and the log says why."""
    handler = Adapter(chat_at("/ws"), dsn=dsn, api_gateway_endpoint_url=connections_api.endpoint_url)
    with caplog.at_level(logging.WARNING, logger="asgiway"):
        assert handler(connect_event(CONNECTION), LambdaContextStub()) == {
            "statusCode": 403,
            "body": "Forbidden",
        }
    (warning,) = caplog.records
    assert warning.levelno == logging.WARNING
    assert "every WebSocket event reaches websocket_path '/'" in warning.getMessage()
    assert "the app's WebSocket routes are /ws" in warning.getMessage()


def test_a_route_behind_a_mount_and_middleware_is_named(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    app = CORSMiddleware(Starlette(routes=[Mount("/api", app=chat_at("/live"))]), allow_origins=["*"])
    handler = Adapter(
        app, dsn=dsn, websocket_path="/live", api_gateway_endpoint_url=connections_api.endpoint_url
    )
    with caplog.at_level(logging.WARNING, logger="asgiway"):
        assert handler(connect_event(CONNECTION), LambdaContextStub())["statusCode"] == 403
    assert "the app's WebSocket routes are /api/live" in caplog.text
    right = Adapter(
        app, dsn=dsn, websocket_path="/api/live", api_gateway_endpoint_url=connections_api.endpoint_url
    )
    assert right(connect_event(CONNECTION), LambdaContextStub()) == {"statusCode": 200}


def test_a_refusal_on_purpose_before_reading_is_no_routing_warning(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    """FastAPI's documented token check raises WebSocketException before accepting: its route
    matched, so nothing suggests a wrong websocket_path."""
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, token: str | None = None) -> None:
        if token is None:
            raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION)
        await websocket.accept()

    handler = adapter_for(app, dsn, connections_api)
    with caplog.at_level(logging.WARNING, logger="asgiway"):
        assert handler(connect_event(CONNECTION), LambdaContextStub())["statusCode"] == 403
    assert caplog.records == []


def test_a_plain_asgi_app_closing_unread_is_warned_about_without_routes(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "websocket.close"})

    handler = Adapter(
        app, dsn=dsn, websocket_path="/ws", api_gateway_endpoint_url=connections_api.endpoint_url
    )
    with caplog.at_level(logging.WARNING, logger="asgiway"):
        assert handler(connect_event(CONNECTION), LambdaContextStub())["statusCode"] == 403
    assert "websocket_path '/ws', and the app's routes cannot be read" in caplog.text
