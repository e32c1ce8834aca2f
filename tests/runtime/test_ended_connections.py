"""Connections that end before their DISCONNECT: gone (@connections answered 410) or closed by the app.

A gone connection leaves every room at once and is never posted to again, but its record and
state stay until its DISCONNECT, which replays the app once, with the real close code, so its
disconnect handler runs ("bob left"). A connection the app closed is only removed by its
DISCONNECT, which is expected, so it is logged at DEBUG and the app is not run again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from examples.chat.app import app as chat
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from asgiway import Adapter
from asgiway.backends import from_dsn
from asgiway.connections import Connections
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    message_event,
)
from tests.support.chat_frames import readable

LOBBY = {"room": ["lobby"]}


def serve(app: Any, dsn: str, api: ConnectionsApiDouble) -> Adapter:
    return Adapter(app, dsn=dsn, websocket_path="/ws", api_gateway_endpoint_url=api.endpoint_url)


def chat_message(connection_id: str, text: str) -> dict[str, Any]:
    """A message of the chat's protocol, on the route API Gateway selects for it."""
    body = json.dumps({"action": "sendmessage", "data": text})
    return message_event(connection_id, body, route_key="sendmessage")


def ok(handler: Adapter, event: dict[str, Any]) -> None:
    assert handler(event, LambdaContextStub()) == {"statusCode": 200}


def posts_to(api: ConnectionsApiDouble, connection_id: str) -> int:
    return len([call for call in api.calls_of("POST") if call.connection_id == connection_id])


def test_a_gone_peer_leaves_its_rooms_and_its_disconnect_still_says_goodbye(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    handler = serve(chat, dsn, connections_api)
    for name in ("ada", "bob", "cy"):
        ok(handler, connect_event(f"{name}=", query={**LOBBY, "name": [name]}))
    store = from_dsn(dsn)
    for name in ("ada", "bob", "cy"):  # past the handshake's grace, when a 410 may mean "not yet"
        record = store.load(f"{name}=")
        assert record is not None
        assert store.update(
            type(record)(record.connection_id, record.scope, record.state, record.expires_at - 60)
        )

    connections_api.gone.add("bob=")  # bob's network went away; API Gateway answers 410 for him
    ok(handler, chat_message("ada=", "hi"))
    gone = store.load("bob=")
    assert gone is not None
    assert gone.ended == "gone"
    assert gone.state["name"] == "bob", "the state waits for the DISCONNECT"
    assert sorted(store.members("lobby")) == ["ada=", "cy="]
    tried = posts_to(connections_api, "bob=")

    # Never posted to again: not by a broadcast, not by a send; a MESSAGE for it is a 410.
    ok(handler, chat_message("cy=", "anyone?"))
    sent = asyncio.run(Connections(dsn=dsn, endpoint_url=connections_api.endpoint_url).send("bob=", "psst"))
    assert sent is False
    assert posts_to(connections_api, "bob=") == tried
    assert handler(message_event("bob=", "late"), LambdaContextStub()) == {"statusCode": 410, "body": "Gone"}

    # Its DISCONNECT replays the app once, with the stored name: the chat says goodbye.
    ok(handler, disconnect_event("bob=", code=1006))
    assert readable(connections_api.sent("ada=")[-1]) == "bob left (ada, cy)"
    assert readable(connections_api.sent("cy=")[-1]) == "bob left (ada, cy)"
    assert store.load("bob=") is None


def test_fastapis_disconnect_handler_runs_with_the_real_code_after_a_410(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """The documented `except WebSocketDisconnect` runs when the gone client's DISCONNECT comes."""
    departures: list[tuple[str, int]] = []
    app = FastAPI()

    @app.websocket("/ws")
    async def endpoint(websocket: WebSocket, name: str) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(f"echo {await websocket.receive_text()}")
        except WebSocketDisconnect as left:
            departures.append((name, left.code))

    handler = serve(app, dsn, connections_api)
    ok(handler, connect_event("dee=", query={"name": ["dee"]}))
    connections_api.gone.add("dee=")
    store = from_dsn(dsn)
    record = store.load("dee=")
    assert record is not None
    store.update(type(record)(record.connection_id, record.scope, record.state, record.expires_at - 60))
    ok(handler, message_event("dee=", "hello"))  # its echo meets a 410
    assert departures == []
    ok(handler, disconnect_event("dee=", code=1001))
    assert departures == [("dee", 1001)]


def test_a_connection_the_app_closed_is_removed_by_its_disconnect_quietly(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    sessions: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        sessions.append(scope["asgiway.event"])
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        if message.get("text") == "bye":
            await send({"type": "websocket.close", "code": 1000})
            return
        await receive()

    handler = Adapter(app, dsn=dsn, api_gateway_endpoint_url=connections_api.endpoint_url, lifespan="off")
    ok(handler, connect_event("e="))
    ok(handler, message_event("e=", "bye"))
    assert [call.method for call in connections_api.calls] == ["DELETE"]
    record = from_dsn(dsn).load("e=")
    assert record is not None
    assert record.ended == "closed"
    with caplog.at_level(logging.DEBUG, logger="asgiway"):
        ok(handler, disconnect_event("e=", code=1000, reason="Connection Closed Normally"))
    assert sessions == ["connect", "message"], "the close's own DISCONNECT does not run the app"
    assert {record.levelname for record in caplog.records} == {"DEBUG"}
    assert from_dsn(dsn).load("e=") is None


def test_a_disconnect_nothing_explains_is_still_a_warning(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    handler = serve(chat, dsn, connections_api)
    with caplog.at_level(logging.WARNING, logger="asgiway"):
        ok(handler, disconnect_event("nobody="))
    assert "No record of connection nobody= for DISCONNECT" in caplog.text
