"""Every framework's documented WebSocket apps, unchanged, through the Adapter as Lambda runs them:
Starlette, FastAPI, Quart, Litestar and Django Channels (sqlite, loopback @connections)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from asgiway import Adapter
from asgiway.backends import from_dsn
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    http_event,
    message_event,
)
from tests.apps.frameworks import ECHO_APPS, EchoApp, by_name

#: As in issue 18's report: 20 connections, 3 messages each.
CONNECTIONS, MESSAGES = 20, 3
#: Channels' AllowedHostsOriginValidator wants a browser's Origin that ALLOWED_HOSTS lists.
BROWSER = {"Origin": "http://127.0.0.1:8000"}


def serve(app: Any, dsn: str, api: ConnectionsApiDouble, websocket_path: str) -> Adapter:
    return Adapter(app, dsn=dsn, websocket_path=websocket_path, api_gateway_endpoint_url=api.endpoint_url)


def event_ok(handler: Adapter, event: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = handler(event, LambdaContextStub())
    assert reply["statusCode"] == 200, reply
    return reply


@pytest.mark.parametrize("echo", ECHO_APPS, ids=[app.name for app in ECHO_APPS])
def test_a_documented_echo_answers_every_frame_once_and_in_order(
    echo: EchoApp, dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    handler = serve(echo.load(), dsn, connections_api, echo.websocket_path)
    ids = [f"{echo.name[:8]}{number}=" for number in range(CONNECTIONS)]
    with caplog.at_level(logging.WARNING, logger="asgiway"):
        for connection_id in ids:
            event_ok(handler, connect_event(connection_id))
            for number in range(MESSAGES):
                event_ok(handler, message_event(connection_id, echo.frame(number)))
    assert caplog.records == []
    for connection_id in ids:
        sent = [echo.read(frame) for frame in connections_api.sent(connection_id)]
        assert sent == echo.expected(range(MESSAGES)), connection_id
        reply = handler(disconnect_event(connection_id, code=1001), LambdaContextStub())
        assert reply["statusCode"] == echo.disconnect_status
    assert from_dsn(dsn).connections() == []


def test_a_quart_handler_that_awaits_before_accepting(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """It loads the user (a timer, then a thread) before it accepts or refuses: CONNECT waits for
    its answer, and every later frame is answered after more awaiting, once, in order."""
    from tests.apps import quart_loads_before_accepting

    handler = serve(quart_loads_before_accepting.app, dsn, connections_api, "/ws")
    refused = handler(connect_event("eve=", query={"user": ["eve"]}), LambdaContextStub())
    assert (refused["statusCode"], refused.get("body")) == (403, "Unknown user")
    event_ok(handler, connect_event("ada=", query={"user": ["ada"]}))
    for text in ("one", "two", "three"):
        event_ok(handler, message_event("ada=", text))
    assert connections_api.sent("ada=") == [
        b"Ada Lovelace: one",
        b"Ada Lovelace: two",
        b"Ada Lovelace: three",
    ]
    assert connections_api.sent("eve=") == []


def test_litestars_websocket_handler_answers_then_closes(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    from tests.apps import litestar_websocket

    handler = serve(litestar_websocket.app, dsn, connections_api, "/ws")
    event_ok(handler, connect_event("ls="))
    event_ok(handler, message_event("ls=", json.dumps({"hello": "world"})))
    assert [json.loads(frame) for frame in connections_api.sent("ls=")] == [{"message": {"hello": "world"}}]
    assert [call.connection_id for call in connections_api.calls_of("DELETE")] == ["ls="]
    record = from_dsn(dsn).load("ls=")
    assert record is not None
    assert record.ended == "closed"


def test_litestars_own_state_is_left_out_quietly(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    """Litestar keeps its connection state under scope["state"]["_ls_connection_state"]: not
    JSON, its own, rebuilt at every event. It is not stored, and said so once, at DEBUG."""
    from asgiway import state

    state._private_keys_left_out.discard("_ls_connection_state")
    handler = serve(by_name("litestar-listener").load(), dsn, connections_api, "/")
    with caplog.at_level(logging.DEBUG, logger="asgiway"):
        for connection_id in ("x=", "y="):
            event_ok(handler, connect_event(connection_id))
            event_ok(handler, message_event(connection_id, "hi"))
            event_ok(handler, disconnect_event(connection_id))
    mentions = [record for record in caplog.records if "_ls_connection_state" in record.getMessage()]
    assert [record.levelname for record in mentions] == ["DEBUG"]
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


CHATS = ["tests.apps.channels_chat:application", "tests.apps.channels_sync_chat:application"]


@pytest.fixture(params=CHATS, ids=["async-consumer", "sync-consumer"])
def chat(request: pytest.FixtureRequest) -> Any:
    return EchoApp("chat", request.param, "/ws/chat/lobby/").load()


def test_channels_tutorial_chat_reaches_every_member_once_and_in_order(
    chat: Any, dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """Eight visitors of #lobby: what one types reaches all eight (its own page included), once
    each and in order; a visitor who left is out of the group and hears nothing more."""
    handler = serve(chat, dsn, connections_api, "/ws/chat/lobby/")
    members = [f"m{number}=" for number in range(8)]
    for connection_id in members:
        event_ok(handler, connect_event(connection_id, headers=BROWSER))
    event_ok(handler, message_event("m0=", json.dumps({"message": "hello from m0"})))
    event_ok(handler, message_event("m5=", json.dumps({"message": "m5 here"})))
    event_ok(handler, disconnect_event("m7=", code=1001))
    event_ok(handler, message_event("m1=", json.dumps({"message": "m7 left"})))
    for connection_id in members:
        said = [json.loads(frame)["message"] for frame in connections_api.sent(connection_id)]
        heard = (
            ["hello from m0", "m5 here"]
            if connection_id == "m7="
            else ["hello from m0", "m5 here", "m7 left"]
        )
        assert said == heard, connection_id
    assert sorted(from_dsn(dsn).members("chat_lobby")) == members[:7]


def test_channels_tutorial_chat_on_every_store(store_dsn: str, connections_api: ConnectionsApiDouble) -> None:
    """The layer's groups are the store's rooms: the same chat on each of the five stores."""
    handler = serve(EchoApp("chat", CHATS[0], "/").load(), store_dsn, connections_api, "/ws/chat/lobby/")
    for connection_id in ("a=", "b=", "c="):
        event_ok(handler, connect_event(connection_id, headers=BROWSER))
    event_ok(handler, message_event("b=", json.dumps({"message": "hi"})))
    for connection_id in ("a=", "b=", "c="):
        assert connections_api.sent(connection_id) == [b'{"message": "hi"}'], connection_id
    for connection_id in ("a=", "b=", "c="):
        event_ok(handler, disconnect_event(connection_id))
    assert from_dsn(store_dsn).members("chat_lobby") == []


def test_channels_tutorial_http_side_keeps_working(
    chat: Any, dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """Django's views through ProtocolTypeRouter's "http": the tutorial's index and room pages."""
    handler = serve(chat, dsn, connections_api, "/ws/chat/lobby/")
    index = handler(http_event(path="/chat/"), LambdaContextStub())
    assert index["statusCode"] == 200
    assert "What chat room would you like to enter?" in index["body"]
    room = handler(http_event(path="/chat/lobby/"), LambdaContextStub())
    assert room["statusCode"] == 200
    assert '<script id="room-name" type="application/json">"lobby"</script>' in room["body"]


def test_channels_tutorial_refuses_another_sites_page(
    chat: Any, dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """The tutorial's AllowedHostsOriginValidator, replayed at CONNECT: a page from a host that
    ALLOWED_HOSTS does not list is refused."""
    handler = serve(chat, dsn, connections_api, "/ws/chat/lobby/")
    reply = handler(connect_event("evil=", headers={"Origin": "https://evil.example"}), LambdaContextStub())
    assert reply["statusCode"] == 403
    assert from_dsn(dsn).load("evil=") is None
