"""The chat example as two visitors in a room and one in another would use it."""

from __future__ import annotations

import json
from typing import Any

from examples.chat.app import USAGE, app

from asgiway import Adapter
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    http_event,
    message_event,
)


def test_a_room_hears_joins_messages_and_departures_once(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    handler = Adapter(
        app, dsn=dsn, websocket_path="/ws", api_gateway_endpoint_url=connections_api.endpoint_url
    )
    context = LambdaContextStub()
    assert "WebSocket Chat" in handler(http_event("GET", "/"), context)["body"]
    for connection_id, name, room in (("a=", "ada", "lobby"), ("b=", "bo", "lobby"), ("c=", "cy", "garden")):
        handler(connect_event(connection_id, query={"name": [name], "room": [room]}), context)
    handler(send_message("a=", "hi all"), context)
    handler(send_message("b=", "hey ada"), context)
    handler(send_message("c=", "anyone?"), context)
    for connection_id in ("a=", "b=", "c="):
        handler(disconnect_event(connection_id), context)

    def heard(connection_id: str) -> list[str]:
        return [frame.decode() for frame in connections_api.sent(connection_id)]

    assert heard("a=") == ["Welcome to #lobby, ada!", "bo joined", "ada: hi all", "bo: hey ada"]
    assert heard("b=") == ["Welcome to #lobby, bo!", "ada: hi all", "bo: hey ada", "ada left"]
    assert heard("c=") == ["Welcome to #garden, cy!", "cy: anyone?"]
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
    assert [frame.decode() for frame in connections_api.sent("a=")] == ["Welcome to #lobby, ada!", USAGE]
