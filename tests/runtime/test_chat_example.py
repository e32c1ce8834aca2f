"""The chat example as two visitors in a room and one in another would use it."""

from __future__ import annotations

import json
from typing import Any

from examples.chat.app import EMPTY, USAGE, app

from asgiway import Adapter
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    http_event,
    message_event,
)
from tests.support.chat_frames import readable


def test_a_room_hears_joins_messages_and_departures_once(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    handler = Adapter(
        app, dsn=dsn, websocket_path="/ws", api_gateway_endpoint_url=connections_api.endpoint_url
    )
    context = LambdaContextStub()
    assert 'id="messageText"' in handler(http_event("GET", "/"), context)["body"]
    for connection_id, name, room in (("a=", "ada", "lobby"), ("b=", "bo", "lobby"), ("c=", "cy", "garden")):
        handler(connect_event(connection_id, query={"name": [name], "room": [room]}), context)
    handler(send_message("a=", "hi all"), context)
    handler(send_message("b=", "hey ada"), context)
    handler(send_message("c=", "anyone?"), context)
    for connection_id in ("a=", "b=", "c="):
        handler(disconnect_event(connection_id), context)

    def heard(connection_id: str) -> list[str]:
        return [readable(frame) for frame in connections_api.sent(connection_id)]

    assert heard("a=") == [
        "Welcome to #lobby, ada! (ada)",
        "bo joined (ada, bo)",
        "ada: hi all",
        "bo: hey ada",
    ]
    assert heard("b=") == ["Welcome to #lobby, bo! (ada, bo)", "ada: hi all", "bo: hey ada", "ada left (bo)"]
    assert heard("c=") == ["Welcome to #garden, cy! (cy)", "cy: anyone?"]
    assert handler.backend is not None
    assert handler.backend.connections() == []


def send_message(connection_id: str, text: str) -> dict[str, Any]:
    """What API Gateway sends for AWS's sample chat protocol: the `sendmessage` route."""
    body = json.dumps({"action": "sendmessage", "data": text})
    return message_event(connection_id, body, route_key="sendmessage")


def test_a_message_on_default_gets_the_protocol_back(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    handler = Adapter(
        app, dsn=dsn, websocket_path="/ws", api_gateway_endpoint_url=connections_api.endpoint_url
    )
    context = LambdaContextStub()
    handler(connect_event("a=", query={"name": ["ada"], "room": ["lobby"]}), context)
    handler(message_event("a=", "hi all"), context)
    assert [readable(frame) for frame in connections_api.sent("a=")] == [
        "Welcome to #lobby, ada! (ada)",
        USAGE,
    ]


def test_an_empty_message_is_refused_to_its_sender_only(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    handler = Adapter(
        app, dsn=dsn, websocket_path="/ws", api_gateway_endpoint_url=connections_api.endpoint_url
    )
    context = LambdaContextStub()
    handler(connect_event("a=", query={"name": ["ada"], "room": ["lobby"]}), context)
    handler(connect_event("b=", query={"name": ["bo"], "room": ["lobby"]}), context)
    handler(send_message("a=", "  "), context)
    # A MESSAGE waits for its connection's welcome, still being delivered after CONNECT.
    handler(send_message("b=", "still here"), context)
    assert [readable(frame) for frame in connections_api.sent("a=")] == [
        "Welcome to #lobby, ada! (ada)",
        "bo joined (ada, bo)",
        EMPTY,
        "bo: still here",
    ]
    assert [readable(frame) for frame in connections_api.sent("b=")] == [
        "Welcome to #lobby, bo! (ada, bo)",
        "bo: still here",
    ]


def test_markup_in_names_and_messages_stays_data(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    """The frames carry what was typed; the page shows it as text (tests/e2e/test_browser.py)."""
    handler = Adapter(
        app, dsn=dsn, websocket_path="/ws", api_gateway_endpoint_url=connections_api.endpoint_url
    )
    context = LambdaContextStub()
    handler(connect_event("a=", query={"name": ["<i>ada</i>"], "room": ["lobby"]}), context)
    handler(send_message("a=", "<script>alert(1)</script>"), context)
    message = json.loads(connections_api.sent("a=")[-1])
    assert (message["type"], message["name"], message["text"], message["sender"]) == (
        "message",
        "<i>ada</i>",
        "<script>alert(1)</script>",
        "a=",
    )


def test_the_page_names_its_icon_and_the_icon_is_served(dsn: str) -> None:
    handler = Adapter(app, dsn=dsn, websocket_path="/ws")
    context = LambdaContextStub()
    assert 'rel="icon" href="favicon.svg"' in handler(http_event("GET", "/"), context)["body"]
    for path in ("/favicon.svg", "/favicon.ico"):
        icon = handler(http_event("GET", path), context)
        assert (icon["statusCode"], icon["headers"]["content-type"]) == (200, "image/svg+xml")
