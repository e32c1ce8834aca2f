"""asgiway.contrib.channels.ConnectionsChannelLayer: Django Channels' layer on connections and rooms.

The tutorial's chat (tests/apps) shows groups; these show the rest: `send` to one channel, the
names, what cannot travel, the asynchronous invocations on Lambda (at least once), and that a sync
consumer stuck past its deadline holds no later event of its container.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from asgiway import Adapter, ConfigurationError
from asgiway.contrib.channel_delivery import CHANNEL_DELIVERY_KEY
from asgiway.contrib.channels import ConnectionsChannelLayer
from asgiway.contrib.channels import deliveries as deliveries_module
from asgiway.contrib.channels.names import InvalidNameError, channel_name_for, checked_group, connection_of
from asgiway.deferred import wait_for_delivery
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    message_event,
)
from tests.apps.frameworks import EchoApp
from tests.runtime import channels_consumers

BROWSER = {"Origin": "http://127.0.0.1:8000"}


def serve(app: Any, dsn: str, api: ConnectionsApiDouble, websocket_path: str = "/") -> Adapter:
    return Adapter(app, dsn=dsn, websocket_path=websocket_path, api_gateway_endpoint_url=api.endpoint_url)


def test_a_channel_name_is_its_connection_id_and_back() -> None:
    assert channel_name_for("Hh7=Jj8=") == "asgiway.Hh7.3dJj8.3d"
    assert connection_of("asgiway.Hh7.3dJj8.3d") == "Hh7=Jj8="
    for connection_id in ("a+b/c=", "L0SM9cOFvHcCIhw=", "x.y-z_"):
        assert connection_of(channel_name_for(connection_id)) == connection_id
    for foreign in ("specific.abc!def", "asgiway.", "asgiway.a=b", 7):
        with pytest.raises(InvalidNameError):
            connection_of(foreign)
    with pytest.raises(InvalidNameError):
        checked_group("chat lobby")


def test_send_reaches_that_one_channel_once(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    """The recipient's consumer is replayed with the message on its channel (its handler sees
    scope["asgiway.event"] == "channel"); the sender hears nothing back."""
    handler = serve(channels_consumers.direct, dsn, connections_api)
    for connection_id in ("a=", "b="):
        assert handler(connect_event(connection_id), LambdaContextStub())["statusCode"] == 200
        wait_for_delivery(connection_id)  # the frame it sent at CONNECT, delivered after the handshake
    (introduction,) = connections_api.sent("b=")
    b_channel = introduction.decode().removeprefix("me ")
    assert handler(message_event("a=", f"to {b_channel} hello"), LambdaContextStub())["statusCode"] == 200
    assert connections_api.sent("b=")[1:] == [f"hello from {channel_name_for('a=')} (channel)".encode()]
    assert connections_api.sent("a=") == [f"me {channel_name_for('a=')}".encode()]


def test_a_message_that_cannot_travel_is_refused_in_the_sender(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    handler = serve(channels_consumers.direct, dsn, connections_api)
    handler(connect_event("a="), LambdaContextStub())
    wait_for_delivery("a=")
    reply = handler(message_event("a=", "unsendable"), LambdaContextStub())
    assert reply["statusCode"] == 500
    assert connections_api.sent("a=") == [f"me {channel_name_for('a=')}".encode()]


def test_outside_a_websocket_event_the_layer_says_where_it_works() -> None:
    layer = ConnectionsChannelLayer()
    with pytest.raises(ConfigurationError, match="inside a WebSocket event"):
        asyncio.run(layer.group_send("chat_lobby", {"type": "chat.message"}))
    with pytest.raises(ConfigurationError, match="takes no CONFIG"):
        ConnectionsChannelLayer(hosts=[("127.0.0.1", 6379)])


@pytest.fixture
def on_lambda(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """As on Lambda: the function's name is set, and the asynchronous invocations it starts are
    recorded (function, event) instead of sent."""
    invoked: list[tuple[str, dict[str, Any]]] = []

    def invoke(function: str, event: dict[str, Any], what: str) -> bool:
        invoked.append((function, json.loads(json.dumps(event))))
        return True

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "chat")
    monkeypatch.setattr(deliveries_module, "invoke_asynchronously", invoke)
    return invoked


def test_on_lambda_other_members_are_reached_through_asynchronous_invocations(
    dsn: str, connections_api: ConnectionsApiDouble, on_lambda: list[tuple[str, dict[str, Any]]]
) -> None:
    """Twelve in #lobby: the sender's own consumer takes the message in its event; the eleven
    others are handed to two invocations of the same function (ten recipients at most each),
    which replay them when Lambda runs them. Lambda runs an invocation at least once: one run
    twice delivers twice."""
    chat = EchoApp("chat", "tests.apps.channels_chat:application", "/").load()
    handler = serve(chat, dsn, connections_api, "/ws/chat/lobby/")
    members = [f"m{number:02}=" for number in range(12)]
    for connection_id in members:
        assert (
            handler(connect_event(connection_id, headers=BROWSER), LambdaContextStub())["statusCode"] == 200
        )
    context = LambdaContextStub()
    assert handler(message_event("m00=", json.dumps({"message": "hi"})), context)["statusCode"] == 200
    assert connections_api.sent("m00=") == [b'{"message": "hi"}']
    assert [function for function, _ in on_lambda] == [context.invoked_function_arn] * 2
    batches = [
        [item["connection_id"] for item in event[CHANNEL_DELIVERY_KEY]["deliveries"]]
        for _, event in on_lambda
    ]
    assert [len(batch) for batch in batches] == [10, 1]
    assert sorted(connection_id for batch in batches for connection_id in batch) == members[1:]
    assert all(connections_api.sent(connection_id) == [] for connection_id in members[1:])

    for _, event in on_lambda:
        assert handler(event, LambdaContextStub())["statusCode"] == 200
    for connection_id in members:
        assert connections_api.sent(connection_id) == [b'{"message": "hi"}'], connection_id
    handler(on_lambda[1][1], LambdaContextStub())  # Lambda's retry of the second invocation
    assert connections_api.sent(batches[1][0]) == [b'{"message": "hi"}'] * 2


def test_a_malformed_channel_delivery_is_refused_and_never_raised(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    handler = serve(channels_consumers.direct, dsn, connections_api)
    payloads: list[dict[str, Any]] = [
        {"deliveries": []},
        {"deliveries": [{"connection_id": "a=", "messages": [{"no": "type"}]}]},
        {"deliveries": [{"connection_id": "../x", "messages": [{"type": "t"}]}]},
        {"deliveries": [{"connection_id": "a=", "messages": [{"type": "t"}]}], "endpoint": "https://x"},
    ]
    for payload in payloads:
        reply = handler({CHANNEL_DELIVERY_KEY: payload}, LambdaContextStub())
        assert reply == {"statusCode": 400, "body": "Bad Request"}, payload


def test_a_message_for_a_connection_that_left_is_dropped(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    handler = serve(channels_consumers.direct, dsn, connections_api)
    delivery = {"deliveries": [{"connection_id": "gone=", "messages": [{"type": "direct.message"}]}]}
    assert handler({CHANNEL_DELIVERY_KEY: delivery}, LambdaContextStub()) == {
        "statusCode": 200,
        "body": '{"replayed": 0}',
    }


def test_a_sync_consumer_stuck_past_its_deadline_holds_no_later_event(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """Its handler blocks in its thread past the event's deadline: that event answers 504, and the
    container's next events, sync code included, run on threads of their own. The stuck handler
    is let go only after them, so they could not have waited for its thread."""
    handler = serve(channels_consumers.stuck, dsn, connections_api)
    channels_consumers.RELEASE.clear()
    try:
        assert handler(connect_event("a="), LambdaContextStub())["statusCode"] == 200
        stuck = handler(message_event("a=", "stick"), LambdaContextStub(timeout_seconds=2))
        assert stuck["statusCode"] == 504
        assert handler(connect_event("b="), LambdaContextStub())["statusCode"] == 200
        assert handler(message_event("b=", "hi"), LambdaContextStub())["statusCode"] == 200
        assert connections_api.sent("b=") == [b"done hi"]
    finally:
        channels_consumers.RELEASE.set()
    assert handler(disconnect_event("b="), LambdaContextStub())["statusCode"] == 200


def test_a_layer_that_cannot_deliver_here_is_named_once(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    """Channels' in-memory layer queues messages for consumers that end with their event: the
    app's first session says so in an ERROR, and no later one repeats it."""
    from channels.layers import InMemoryChannelLayer, channel_layers  # type: ignore[import-untyped]

    from asgiway.contrib.channels import foreign_layers

    foreign_layers._reported.discard(InMemoryChannelLayer)
    channel_layers.set("memory", InMemoryChannelLayer())
    try:
        handler = serve(channels_consumers.in_memory, dsn, connections_api)
        with caplog.at_level(logging.ERROR, logger="asgiway"):
            handler(connect_event("m="), LambdaContextStub())
            handler(message_event("m=", "hi"), LambdaContextStub())
    finally:
        channel_layers.backends.pop("memory", None)
    assert [record.getMessage().split(":")[0] for record in caplog.records] == [
        "Channels' layer 'memory' is a channels.layers.InMemoryChannelLayer"
    ]
    assert connections_api.sent("m=") == [b"hi"]
