"""Limits: messages over 128 KB, state over its limit, 10,000 rooms per connection attempt: clear errors.

Each test runs on every real store (`store_dsn`) through the real Adapter or `Connections`, with
the loopback @connections double recording every call, so "refused before any call" is checked on
the wire. A limit must be met with an error that says what was too large and what the limit is,
and must leave the connection as usable as before.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter
from asgiway.backends import Backend, ConnectionRecord, from_dsn
from asgiway.connections import Connections
from asgiway.exceptions import AsgiwayError, BackendError
from asgiway.management_api import MAX_MESSAGE_BYTES, MessageTooLargeError
from asgiway.state import MAX_STATE_BYTES, encoded
from asgiway.testing import ConnectionsApiDouble, LambdaContextStub, connect_event, message_event
from asgiway.types import LambdaResponse


def context() -> Any:
    """A fresh Lambda context per event: its countdown to the timeout starts when it is made."""
    return LambdaContextStub()


def serve(app: Starlette, dsn: str, api: ConnectionsApiDouble, **options: Any) -> Adapter:
    return Adapter(
        app,
        dsn=dsn,
        websocket_path="/ws",
        api_gateway_endpoint_url=api.endpoint_url,
        lifespan="off",
        **options,
    )


def received(api: ConnectionsApiDouble, connection_id: str, reply: LambdaResponse) -> list[str]:
    """What the client got for one MESSAGE, the POSTs then the route response (two-way replies),
    each as its size and start: a failure must not print 128 KB frames."""
    body = reply.get("body")
    frames = [*api.sent(connection_id), *([body.encode()] if isinstance(body, str) else [])]
    return [summary(frame) for frame in frames]


def summary(frame: bytes | str) -> str:
    data = frame.encode() if isinstance(frame, str) else frame
    return f"{len(data)} bytes {data[:16]!r}"


# --- Messages over 128 KB --------------------------------------------------------------------------

#: Frames by name: one byte over, over in bytes though not in characters, and exactly at the limit.
FRAMES = {
    "over": "x" * (MAX_MESSAGE_BYTES + 1),
    "multibyte": "é" * (MAX_MESSAGE_BYTES // 2 + 1),
    "exact": "x" * MAX_MESSAGE_BYTES,
}
#: The ways an app sends: ASGI `websocket.send`, `Connections.send` to itself, a room broadcast.
ROUTES = ("websocket", "send", "broadcast")


def sizes_app() -> Starlette:
    """A MESSAGE "<route> <frame>" sends FRAMES[frame] that way; a refusal is kept in the state
    (its message) and answered with the small frame "refused"; "echo <text>" echoes."""

    async def sizes(websocket: WebSocket) -> None:
        await websocket.accept()
        connections = Connections.of(websocket)
        if websocket.scope["asgiway.event"] == "connect":
            await connections.join("room")
        route, _, name = (await websocket.receive_text()).partition(" ")
        try:
            if route == "echo":
                await websocket.send_text(name)
            elif route == "websocket":
                await websocket.send_text(FRAMES[name])
            elif route == "send":
                assert connections.connection_id is not None
                await connections.send(connections.connection_id, FRAMES[name])
            else:
                await connections.broadcast(FRAMES[name], room="room")
        except MessageTooLargeError as exc:
            websocket.state.refused = str(exc)
            await websocket.send_text("refused")
        await websocket.receive_text()

    return Starlette(routes=[WebSocketRoute("/ws", sizes)])


@pytest.mark.parametrize("two_way_replies", [False, True], ids=["posts", "two-way"])
def test_a_frame_over_128_kb_is_refused_before_any_call_and_the_connection_stays_usable(
    store_dsn: str, connections_api: ConnectionsApiDouble, two_way_replies: bool
) -> None:
    """Whichever way the app sends, a frame over 128 KB (counted in UTF-8 bytes) raises
    MessageTooLargeError in the app, naming both sizes, and nothing reaches @connections; a frame
    of exactly 128 KB is delivered. With two-way replies the frame would otherwise leave as the
    route response, which API Gateway cannot deliver either."""
    handler = serve(sizes_app(), store_dsn, connections_api, two_way_replies=two_way_replies)
    store = from_dsn(store_dsn)
    try:
        assert handler(connect_event("big="), context())["statusCode"] == 200
        for route in ROUTES:
            for name in ("over", "multibyte"):
                connections_api.calls.clear()
                reply = handler(message_event("big=", f"{route} {name}"), context())
                assert reply["statusCode"] == 200, (route, name)
                assert received(connections_api, "big=", reply) == [summary("refused")], (route, name)
                assert all(len(call.data) <= MAX_MESSAGE_BYTES for call in connections_api.calls)
                record = store.load("big=")
                assert record is not None, "the connection must stay"
                size = len(FRAMES[name].encode())
                assert record.state["refused"] == (
                    f"A WebSocket message of {size} bytes exceeds API Gateway's limit of"
                    f" {MAX_MESSAGE_BYTES} bytes; split it or send a link to the data instead"
                )
            connections_api.calls.clear()
            reply = handler(message_event("big=", f"{route} exact"), context())
            assert received(connections_api, "big=", reply) == [summary(FRAMES["exact"])], route

        connections_api.calls.clear()
        reply = handler(message_event("big=", "echo still here"), context())
        assert reply["statusCode"] == 200
        assert received(connections_api, "big=", reply) == [summary("still here")]
    finally:
        handler.close()
        store.close()


def test_connections_outside_an_event_refuse_an_oversized_frame_before_any_call(
    store_dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """A script or an HTTP route sending with Connections(dsn=...) gets the same refusal."""
    store = from_dsn(store_dsn)
    store.save(ConnectionRecord("peer=", {"type": "websocket"}, {}))
    store.join("peer=", "room")
    connections = Connections(backend=store, endpoint_url=connections_api.endpoint_url)
    over = FRAMES["multibyte"].encode()
    refusal = f"of {len(over)} bytes exceeds .* {MAX_MESSAGE_BYTES} "
    for attempt in (
        connections.send("peer=", over),
        connections.broadcast(over),
        connections.broadcast(over, room="room"),
    ):
        with pytest.raises(MessageTooLargeError, match=refusal):
            asyncio.run(attempt)
    assert connections_api.calls == []
    assert asyncio.run(connections.send("peer=", "small")) is True
    assert connections_api.sent("peer=") == [b"small"]
    store.close()


# --- State over MAX_STATE_BYTES --------------------------------------------------------------------

#: Part of every oversized state; it must never reach the log (a state may hold a secret).
SECRET = "s3cr3t-token-"


def state_app() -> Starlette:
    """count goes up by one per MESSAGE "inc"; "grow" also adds a blob over the limit; "fill"
    adds one that makes the state exactly MAX_STATE_BYTES; ?big at CONNECT starts over the limit.
    Every message is answered with the count the app saw."""

    async def counter(websocket: WebSocket) -> None:
        await websocket.accept()
        state: dict[str, Any] = websocket.scope["state"]
        if websocket.scope["asgiway.event"] == "connect":
            state["count"] = 0
            if "big" in websocket.query_params:
                state["blob"] = SECRET * (MAX_STATE_BYTES // len(SECRET) + 1)
        text = await websocket.receive_text()
        if text == "fill":
            state["blob"] = ""
            state["blob"] = "f" * (MAX_STATE_BYTES - len(encoded(state)))
        else:
            state["count"] += 1
        if text == "grow":
            state["blob"] = SECRET * (MAX_STATE_BYTES // len(SECRET) + 1)
        await websocket.send_text(str(state["count"]))
        await websocket.receive_text()

    return Starlette(routes=[WebSocketRoute("/ws", counter)])


def state_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "asgiway" and "state" in r.getMessage()]


def test_state_over_the_limit_is_not_stored_and_the_previous_state_is_kept(
    store_dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    handler = serve(state_app(), store_dsn, connections_api)
    store = from_dsn(store_dsn)

    def stored(connection_id: str) -> dict[str, Any]:
        record = store.load(connection_id)
        assert record is not None, f"{connection_id} must stay connected"
        return record.state

    try:
        assert handler(connect_event("grow="), context())["statusCode"] == 200
        assert handler(message_event("grow=", "inc"), context()) == {"statusCode": 200}
        assert stored("grow=") == {"count": 1}

        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="asgiway"):
            assert handler(message_event("grow=", "grow"), context()) == {"statusCode": 200}
        assert connections_api.sent("grow=")[-1] == b"2"  # the event ran and answered
        assert stored("grow=") == {"count": 1}  # the whole new state is dropped, not half of it
        (logged,) = state_errors(caplog)
        assert "not stored" in logged, logged
        assert f"exceeds {MAX_STATE_BYTES}" in logged, logged
        assert SECRET not in logged

        assert handler(message_event("grow=", "inc"), context()) == {"statusCode": 200}
        assert connections_api.sent("grow=")[-1] == b"2"  # counted on from the kept state
        assert stored("grow=") == {"count": 2}

        # Exactly at the limit is stored (MAX_STATE_BYTES counts the canonical JSON).
        assert handler(message_event("grow=", "fill"), context()) == {"statusCode": 200}
        state = stored("grow=")
        assert state["count"] == 2
        assert len(encoded(state)) == MAX_STATE_BYTES

        # Over the limit at CONNECT: the connection is accepted, with no state stored.
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="asgiway"):
            assert handler(connect_event("big=", query={"big": ["1"]}), context())["statusCode"] == 200
        assert stored("big=") == {}
        (logged,) = state_errors(caplog)
        assert SECRET not in logged
    finally:
        handler.close()
        store.close()


def test_the_oversized_state_log_names_the_connection(
    tmp_path: Path, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    """In a Lambda log stream shared by every connection, the line must say whose state it was
    (the log is the same whatever the store, so one store is enough here)."""
    handler = serve(state_app(), f"sqlite://{tmp_path}/store.db", connections_api)
    try:
        assert handler(connect_event("Whose=Id+1"), context())["statusCode"] == 200
        with caplog.at_level(logging.ERROR, logger="asgiway"):
            assert handler(message_event("Whose=Id+1", "grow"), context()) == {"statusCode": 200}
    finally:
        handler.close()
    (logged,) = state_errors(caplog)
    assert "Whose=Id+1" in logged, logged


# --- 10,000 rooms for one connection ---------------------------------------------------------------

#: What the connection attempts.
ATTEMPTED_ROOMS = 10_000
#: The refusal must come by this many rooms at the latest. Without one, joining goes on: 10,000
#: rooms took 0.3 s on SQLite, 3 s on PostgreSQL, 2 s on Redis, but 70-90 s on DynamoDB and S3 in
#: moto (2 writes per join there), so the attempt stops here to keep the suite fast either way.
LATEST_REFUSAL = 1_000


async def flood(connections: Connections) -> tuple[int, AsgiwayError | None, float]:
    """Join rooms room-0, room-1, ... until refused: (rooms joined, the refusal, seconds taken)."""
    started = time.monotonic()
    for number in range(ATTEMPTED_ROOMS):
        if number == LATEST_REFUSAL:
            break
        try:
            await connections.join(f"room-{number}")
        except AsgiwayError as exc:
            return number, exc, time.monotonic() - started
    return min(ATTEMPTED_ROOMS, LATEST_REFUSAL), None, time.monotonic() - started


def check_refusal(
    store: Backend, connection_id: str, joined: int, refused: AsgiwayError | None, took: float
) -> None:
    """The refusal is clear, and the connection holds exactly the rooms it was allowed."""
    assert refused is not None, (
        f"{connection_id} joined {joined} rooms in {took:.1f}s and was never refused: a connection"
        f" needs a cap on its rooms (each costs writes at join and at $disconnect)"
    )
    # Not a BackendError: the store is fine, and the adapter answers those with 503.
    assert not isinstance(refused, BackendError), refused
    message = str(refused)
    # Whose, which room was refused, and how many rooms the connection holds (the cap).
    assert connection_id in message, message
    assert f"room-{joined}" in message, message
    assert f"{joined} rooms" in message, message
    assert sorted(store.rooms(connection_id)) == sorted(f"room-{n}" for n in range(joined))
    assert store.members(f"room-{joined}") == []


def test_a_connection_trying_to_join_ten_thousand_rooms_is_refused_clearly(
    store_dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    store = from_dsn(store_dsn)
    for connection_id in ("flood=", "bystander="):
        store.save(ConnectionRecord(connection_id, {"type": "websocket"}, {}))
    endpoint = connections_api.endpoint_url
    connections = Connections(backend=store, endpoint_url=endpoint, connection_id="flood=")
    try:
        joined, refused, took = asyncio.run(flood(connections))
        check_refusal(store, "flood=", joined, refused, took)
        assert refused is not None

        async def at_the_cap() -> None:
            await connections.join("room-0")  # already a member: idempotent, not one more room
            with pytest.raises(type(refused)):
                await connections.join("one-more")
            await connections.leave("room-0")
            await connections.join("one-more")  # leaving made room for one
            await connections.join("room-1", connection_id="bystander=")  # the cap is per connection

        asyncio.run(at_the_cap())
        assert len(store.rooms("flood=")) == joined
        assert sorted(store.members("room-1")) == ["bystander=", "flood="]
        store.delete("flood=")
        assert store.members("room-1") == ["bystander="]
    finally:
        store.close()


def rooms_at_connect_app() -> Starlette:
    """Joins rooms at CONNECT until refused, keeping how many it joined and the refusal."""

    async def greedy(websocket: WebSocket) -> None:
        await websocket.accept()
        if websocket.scope["asgiway.event"] == "connect":
            joined, refused, took = await flood(Connections.of(websocket))
            websocket.state.joined = joined
            websocket.state.refusal = None if refused is None else [type(refused).__name__, str(refused)]
            websocket.state.took = took
        await websocket.receive_text()

    return Starlette(routes=[WebSocketRoute("/ws", greedy)])


def test_joins_made_during_connect_count_towards_the_cap(
    store_dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """At CONNECT the record is not saved yet (it is, once the app accepted and returned), so a
    cap that counts only the rooms of live records would let a new connection join any number."""
    handler = serve(rooms_at_connect_app(), store_dsn, connections_api)
    store = from_dsn(store_dsn)
    try:
        assert handler(connect_event("greedy="), context())["statusCode"] == 200
        record = store.load("greedy=")
        assert record is not None
        joined, refusal = record.state["joined"], record.state["refusal"]
        assert refusal is not None, (
            f"joined {joined} rooms during CONNECT in {record.state['took']:.1f}s, never refused:"
            f" {json.dumps(store.rooms('greedy=')[:3])}..."
        )
        assert refusal[0] != "BackendError", refusal
        assert f"{joined} rooms" in refusal[1], refusal
        assert len(store.rooms("greedy=")) == joined
    finally:
        handler.close()
        store.close()
