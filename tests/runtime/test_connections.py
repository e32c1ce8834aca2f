"""Beyond the caller: Connections, broadcast, rooms, CONNECT-time frames and two-way replies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter
from asgiway.backends import ConnectionRecord, from_dsn
from asgiway.connections import Connections
from asgiway.exceptions import ConfigurationError
from asgiway.management_api import MessageTooLargeError
from asgiway.sources.delivery import DELIVERY_EVENT_KEY
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    http_event,
    message_event,
)
from tests.support.lambda_invoke import LambdaInvokeStub


def room_app() -> Starlette:
    """Each visitor joins ?room= at connect; every message goes to the whole room."""

    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        connections = Connections.of(websocket)
        if websocket.scope["asgiway.event"] == "connect":
            websocket.state.room = websocket.query_params["room"]
            await connections.join(websocket.state.room)
            await websocket.send_text("welcome")
        text = await websocket.receive_text()
        result = await connections.broadcast(text, room=websocket.state.room)
        websocket.state.last = {"sent": len(result.sent), "gone": result.gone}
        await websocket.receive_text()

    return Starlette(routes=[WebSocketRoute("/", chat)])


def serve(app: Any, dsn: str, api: ConnectionsApiDouble, **options: Any) -> Adapter:
    return Adapter(app, dsn=dsn, api_gateway_endpoint_url=api.endpoint_url, lifespan="off", **options)


def test_broadcast_reaches_the_room_and_marks_the_gone(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    handler = serve(room_app(), dsn, connections_api)
    for connection_id, room in (("a=", "red"), ("b=", "red"), ("c=", "red"), ("d=", "blue")):
        assert (
            handler(connect_event(connection_id, query={"room": [room]}), LambdaContextStub())["statusCode"]
            == 200
        )
    store = from_dsn(dsn)
    for connection_id in ("a=", "b=", "c=", "d="):  # connected a minute ago
        record = store.load(connection_id)
        assert record is not None
        store.update(ConnectionRecord(connection_id, record.scope, record.state, record.expires_at - 60))
    connections_api.gone.add("c=")
    assert handler(message_event("a=", "hello red"), LambdaContextStub()) == {"statusCode": 200}

    assert connections_api.sent("a=")[-1] == b"hello red"
    assert connections_api.sent("b=")[-1] == b"hello red"
    assert b"hello red" not in connections_api.sent("d=")
    # c= is out of the room and marked gone; its record waits for its DISCONNECT.
    gone = store.load("c=")
    assert gone is not None
    assert gone.ended == "gone"
    assert sorted(store.members("red")) == ["a=", "b="]
    record = store.load("a=")
    assert record is not None
    assert record.state["last"] == {"sent": 2, "gone": ["c="]}


def test_a_410_from_a_connection_still_in_its_handshake_does_not_remove_it(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """API Gateway answers 410 until `$connect` returns; the record is saved just before that."""
    import asyncio

    store = from_dsn(dsn)
    store.save(ConnectionRecord("new=", {"path": "/"}, {}))
    connections_api.gone.add("new=")
    result = asyncio.run(
        Connections(backend=store, endpoint_url=connections_api.endpoint_url).broadcast("hi")
    )
    assert result.sent == result.gone == []
    assert "handshake" in result.failed["new="]
    assert store.load("new=") is not None


def test_frames_sent_during_connect_arrive_after_the_handshake_before_any_reply(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    handler = serve(room_app(), dsn, connections_api)
    connections_api.gone.add("a=")  # API Gateway answers 410 until $connect has returned
    assert handler(connect_event("a=", query={"room": ["red"]}), LambdaContextStub())["statusCode"] == 200
    connections_api.gone.discard("a=")
    handler(message_event("a=", "first"), LambdaContextStub())
    assert connections_api.sent("a=") == [b"welcome", b"first"]


def test_a_delivery_event_posts_the_frames_in_order(connections_api: ConnectionsApiDouble) -> None:
    """What the asynchronous self-invocation of a deployed function receives and does: the frames
    go to the function's own @connections endpoint, here the configured one."""
    event = {
        DELIVERY_EVENT_KEY: {
            "connection_id": "z=",
            "frames": [{"text": "one"}, {"bytes": "AAE="}, {"text": "three"}],
        }
    }
    handler = Adapter(room_app(), lifespan="off", api_gateway_endpoint_url=connections_api.endpoint_url)
    reply = handler(event, LambdaContextStub())
    assert json.loads(reply["body"]) == {"delivered": 3}
    assert connections_api.sent("z=") == [b"one", b"\x00\x01", b"three"]


def test_throttled_posts_are_retried_and_other_failures_reported(
    connections_api: ConnectionsApiDouble, dsn: str
) -> None:
    store = from_dsn(dsn)
    for connection_id in ("slow=", "broken=", "fine="):
        store.save(_record(connection_id))
    connections_api.failures["slow="] = (2, 429)
    connections_api.statuses["broken="] = 500
    connections = Connections(dsn=dsn, endpoint_url=connections_api.endpoint_url)

    import asyncio

    result = asyncio.run(connections.broadcast("news"))
    assert sorted(result.sent) == ["fine=", "slow="]
    assert list(result.failed) == ["broken="]
    assert "InternalServerError" in result.failed["broken="]
    assert store.load("broken=") is not None  # a failure is not a departure


def test_oversized_broadcasts_are_refused_before_calling_aws(
    connections_api: ConnectionsApiDouble, dsn: str
) -> None:
    import asyncio

    connections = Connections(dsn=dsn, endpoint_url=connections_api.endpoint_url)
    with pytest.raises(MessageTooLargeError, match="131073 bytes exceeds"):
        asyncio.run(connections.broadcast(b"x" * (128 * 1024 + 1)))
    assert connections_api.calls == []


def test_an_http_route_broadcasts_with_connections_built_from_a_dsn(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """Outside any WebSocket event: an admin endpoint of the same app."""
    ws_handler = serve(room_app(), dsn, connections_api)
    ws_handler(connect_event("a=", query={"room": ["red"]}), LambdaContextStub())
    ws_handler(connect_event("b=", query={"room": ["blue"]}), LambdaContextStub())

    async def announce(request: Request) -> JSONResponse:
        connections = Connections(dsn=dsn, endpoint_url=connections_api.endpoint_url)
        result = await connections.broadcast((await request.body()).decode(), room="red")
        return JSONResponse({"sent": result.sent, "members": await connections.members("red")})

    app = Starlette(routes=[Route("/announce", announce, methods=["POST"])])
    reply = Adapter(app, lifespan="off")(http_event("POST", "/announce", body="maintenance at noon"))
    assert json.loads(reply["body"]) == {"sent": ["a="], "members": ["a="]}
    assert connections_api.sent("a=")[-1] == b"maintenance at noon"
    assert b"maintenance at noon" not in connections_api.sent("b=")


def test_send_close_and_info_for_any_connection(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    import asyncio

    store = from_dsn(dsn)
    store.save(_record("x="))
    connections = Connections(dsn=dsn, endpoint_url=connections_api.endpoint_url)

    async def scenario() -> tuple[Any, ...]:
        sent = await connections.send("x=", "ping")
        info = await connections.info("x=")
        closed = await connections.close("x=")
        after = await connections.send("x=", "too late")
        return sent, info, closed, after

    sent, info, closed, after = asyncio.run(scenario())
    assert sent is True
    assert info is not None
    assert set(info) == {"ConnectedAt", "Identity", "LastActiveAt"}
    assert closed is True
    assert after is False
    # Closed by the app: kept, marked, until its DISCONNECT; nothing was posted after the close.
    record = store.load("x=")
    assert record is not None
    assert record.ended == "closed"
    assert [call.method for call in connections_api.calls] == ["POST", "GET", "DELETE"]


def test_connections_of_outside_an_event_says_what_to_do() -> None:
    with pytest.raises(ConfigurationError, match=r"Connections\(dsn=..., endpoint_url=...\)"):
        Connections.of({"type": "http"})


def test_connections_need_a_store_and_an_endpoint(dsn: str) -> None:
    with pytest.raises(ConfigurationError, match="pass dsn="):
        Connections(endpoint_url="http://127.0.0.1:1/x")
    with pytest.raises(ConfigurationError, match="endpoint_url="):
        Connections(dsn=dsn)


def echo_twice(prefix: bytes | None = None) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        await send({"type": "websocket.send", "text": "ack"})
        if prefix is None:
            await send({"type": "websocket.send", "text": message["text"].upper()})
        else:
            await send({"type": "websocket.send", "bytes": prefix + message["text"].encode()})
        await receive()

    return app


def test_two_way_replies_answer_with_the_last_text_frame(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    handler = serve(echo_twice(), dsn, connections_api, two_way_replies=True)
    handler(connect_event("t="), LambdaContextStub())
    reply = handler(message_event("t=", "hi"), LambdaContextStub())
    assert reply == {"statusCode": 200, "body": "HI"}
    assert connections_api.sent("t=") == [b"ack"]  # order kept: the earlier frame was posted first


def test_two_way_replies_apply_only_to_routes_with_a_route_response(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """API Gateway passes a Lambda response's body on only for a route with a route response,
    and drops it on any other: `True` means `$default`, other routes post."""
    handler = serve(echo_twice(), dsn, connections_api, two_way_replies=True)
    handler(connect_event("t="), LambdaContextStub())
    assert handler(message_event("t=", "who", route_key="whoami"), LambdaContextStub()) == {"statusCode": 200}
    assert connections_api.sent("t=") == [b"ack", b"WHO"]
    assert handler(message_event("t=", "hi"), LambdaContextStub()) == {"statusCode": 200, "body": "HI"}


def test_two_way_replies_name_the_routes_that_have_a_route_response(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    handler = serve(echo_twice(), dsn, connections_api, two_way_replies=["whoami"])
    handler(connect_event("t="), LambdaContextStub())
    assert handler(message_event("t=", "who", route_key="whoami"), LambdaContextStub()) == {
        "statusCode": 200,
        "body": "WHO",
    }
    assert handler(message_event("t=", "hi"), LambdaContextStub()) == {"statusCode": 200}
    assert connections_api.sent("t=") == [b"ack", b"ack", b"HI"]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("$default", "not the string '\\$default'"),
        (["$default", ""], "route keys must be non-empty strings"),
        ([" padded "], "route keys must be non-empty strings"),
        ([7], "route keys must be non-empty strings"),
    ],
)
def test_two_way_replies_take_true_or_route_keys(dsn: str, option: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Adapter(echo_twice(), dsn=dsn, two_way_replies=option)


def test_two_way_replies_post_a_binary_last_frame(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    handler = serve(echo_twice(b"\x00"), dsn, connections_api, two_way_replies=True)
    handler(connect_event("t="), LambdaContextStub())
    assert handler(message_event("t=", "hi"), LambdaContextStub()) == {"statusCode": 200}
    assert connections_api.sent("t=") == [b"ack", b"\x00hi"]


def test_without_two_way_replies_every_frame_is_posted(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    handler = serve(echo_twice(), dsn, connections_api)
    handler(connect_event("t="), LambdaContextStub())
    assert handler(message_event("t=", "hi"), LambdaContextStub()) == {"statusCode": 200}
    assert connections_api.sent("t=") == [b"ack", b"HI"]


def _record(connection_id: str) -> ConnectionRecord:
    return ConnectionRecord(connection_id, {"path": "/"}, {})


def test_on_lambda_connect_frames_go_through_an_asynchronous_self_invocation(
    dsn: str, connections_api: ConnectionsApiDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub = LambdaInvokeStub()
    arn = "arn:aws:lambda:us-east-1:123456789012:function:chat"
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "chat")
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", stub.endpoint_url)
    context = LambdaContextStub(invoked_function_arn=arn)
    try:
        handler = serve(room_app(), dsn, connections_api)
        assert handler(connect_event("a=", query={"room": ["red"]}), context)["statusCode"] == 200
        assert connections_api.calls == []  # nothing is posted from the CONNECT invocation itself
        ((path, kind, payload),) = stub.invocations
        assert path == f"/2015-03-31/functions/{arn.replace(':', '%3A')}/invocations"
        assert kind == "Event"
        # Lambda then runs the function with that payload:
        assert json.loads(handler(payload, LambdaContextStub())["body"]) == {"delivered": 1}
        assert connections_api.sent("a=") == [b"welcome"]
    finally:
        stub.stop()


def test_with_two_way_replies_an_error_still_posts_the_held_frame(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        await send({"type": "websocket.send", "text": "partial result"})
        raise RuntimeError("then it failed")

    handler = serve(app, dsn, connections_api, two_way_replies=True)
    handler(connect_event("e="), LambdaContextStub())
    assert handler(message_event("e=", "go"), LambdaContextStub()) == {
        "statusCode": 500,
        "body": "Internal Server Error",
    }
    assert connections_api.sent("e=") == [b"partial result"]


def test_closing_the_caller_during_its_handshake_points_to_websocket_close(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await Connections.of(scope).close()

    assert serve(app, dsn, connections_api)(connect_event("h="), LambdaContextStub())["statusCode"] == 500
    assert from_dsn(dsn).load("h=") is None


def test_a_connections_kept_past_connect_posts_like_any_other(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    kept: list[Connections] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        kept.append(Connections.of(scope))
        await receive()

    serve(app, dsn, connections_api)(connect_event("k="), LambdaContextStub())
    import asyncio

    assert asyncio.run(kept[0].send("k=", "later")) is True
    assert connections_api.sent("k=") == [b"later"]


def test_a_broadcast_gives_up_at_the_events_deadline(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    import asyncio
    import time

    store = from_dsn(dsn)
    for n in range(100):
        store.save(_record(f"s{n}="))
    connections_api.delay = 1.0  # 100 posts on 32 threads: 4 rounds, about 4 s without a deadline
    connections = Connections(backend=store, endpoint_url=connections_api.endpoint_url)
    connections.deadline = time.monotonic() + 0.1
    started = time.monotonic()
    result = asyncio.run(connections.broadcast("x"))
    # Past the 0.1 s deadline only by building the boto3 client for this endpoint (up to a few
    # hundred ms on a busy machine), never by the rounds of posts the deadline cut off.
    assert time.monotonic() - started < 2.0
    assert result.failed
    assert all(reason == "no answer before the event's deadline" for reason in result.failed.values())
    assert len(result.sent) + len(result.failed) == 100
