"""Sharded broadcast: the calling event posts the first shard, the rest go to other invocations
(on Lambda) or to this process's shard pool (elsewhere), each under the same 410 and retry rules."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from asgiway import Adapter, deferred
from asgiway.backends import Backend, ConnectionRecord, from_dsn
from asgiway.backends.base import RECORD_LIFETIME_SECONDS
from asgiway.broadcast_shards import (
    MAX_ASYNC_PAYLOAD_BYTES,
    SHARD_FIELD,
    parse_shard,
    shard_events,
    wait_for_shards,
)
from asgiway.connections import Connections
from asgiway.management_api import MAX_MESSAGE_BYTES
from asgiway.sources.delivery import DELIVERY_EVENT_KEY
from asgiway.testing import ConnectionsApiDouble, LambdaContextStub
from tests.support.lambda_invoke import LambdaInvokeStub

CONNECTIONS = 1_000
SHARD_SIZE = 250


async def no_app(scope: Any, receive: Any, send: Any) -> None:
    """Shards never reach the app."""


def connection_ids(count: int) -> list[str]:
    return [f"Shard{number:05d}=" for number in range(count)]


def connected_a_minute_ago(store: Backend, ids: list[str], room: str = "hall") -> None:
    """Records past the handshake grace, so a 410 means the client has really left."""
    expires_at = time.time() + RECORD_LIFETIME_SECONDS - 60
    for connection_id in ids:
        store.save(ConnectionRecord(connection_id, {"path": "/"}, {}, expires_at))
        store.join(connection_id, room)


def test_a_broadcast_to_1000_connections_is_sharded_and_reaches_each_once(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    store = from_dsn(dsn)
    ids = connection_ids(CONNECTIONS)
    connected_a_minute_ago(store, ids)
    gone = ids[10::100]  # in the event's own shard and in every other
    connections_api.gone.update(gone)
    connections_api.failures.update({ids[-1]: (2, 429)})  # throttled twice, in the last shard
    connections = Connections(backend=store, endpoint_url=connections_api.endpoint_url, shard_size=SHARD_SIZE)

    result = asyncio.run(connections.broadcast("news", room="hall"))
    wait_for_shards()

    own = ids[:SHARD_SIZE]
    assert sorted(result.sent + result.gone) == own
    assert sorted(result.gone) == [connection_id for connection_id in gone if connection_id in own]
    assert result.queued == ids[SHARD_SIZE:]
    assert result.failed == {}
    for connection_id in ids:
        expected = 3 if connection_id == ids[-1] else 1
        assert len(connections_api.sent(connection_id)) == expected, connection_id
    assert {frame for connection_id in ids for frame in connections_api.sent(connection_id)} == {b"news"}
    # The shards pruned their gone too: out of the room, marked for their DISCONNECT.
    assert sorted(store.members("hall")) == sorted(set(ids) - set(gone))
    assert all(
        (record := store.load(connection_id)) is not None and record.ended == "gone" for connection_id in gone
    )


def test_a_broadcast_within_its_shard_size_hands_nothing_over(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    store = from_dsn(dsn)
    ids = connection_ids(20)
    connected_a_minute_ago(store, ids)
    connections = Connections(backend=store, endpoint_url=connections_api.endpoint_url)

    result = asyncio.run(connections.broadcast(b"\x00bin", room="hall", exclude=ids[:1]))

    assert sorted(result.sent) == ids[1:]
    assert result.queued == []
    assert connections_api.sent(ids[0]) == []


def test_shard_payloads_carry_the_frame_once_and_stay_under_lambdas_async_limit() -> None:
    frame = 'é"' * (MAX_MESSAGE_BYTES // 6)  # escaped in JSON, near the 128 KB frame limit
    ids = [f"{number:0120d}=" for number in range(3_000)]  # long ids: the size, not the count, splits

    events, unsharded = shard_events(frame, ids, shard_size=10_000)

    assert unsharded == []
    assert len(events) >= 3  # 372 KB of ids: split by size, not by count
    carried = []
    for event in events:
        body = json.dumps(event, ensure_ascii=False).encode()
        assert len(body) <= MAX_ASYNC_PAYLOAD_BYTES
        assert body.count(b'"text"') == 1
        shard_frame, shard_ids = parse_shard(event[DELIVERY_EVENT_KEY])
        assert shard_frame == frame
        carried += shard_ids
    assert carried == ids


def test_on_lambda_shards_go_to_asynchronous_invocations_that_post_them(
    dsn: str, connections_api: ConnectionsApiDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub = LambdaInvokeStub()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "chat")
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", stub.endpoint_url)
    monkeypatch.setattr(deferred, "_client", None)  # a client of this test's endpoint
    store = from_dsn(dsn)
    ids = connection_ids(10)
    connected_a_minute_ago(store, ids)
    connections_api.gone.add(ids[7])
    try:
        connections = Connections(backend=store, endpoint_url=connections_api.endpoint_url, shard_size=4)
        result = asyncio.run(connections.broadcast("news", room="hall"))
        assert sorted(result.sent) == ids[:4]
        assert result.queued == ids[4:]
        assert [kind for _, kind, _ in stub.invocations] == ["Event", "Event"]
        assert all(payload == {"asgiway.deliver": {SHARD_FIELD: payload[DELIVERY_EVENT_KEY][SHARD_FIELD]}}
                   for _, _, payload in stub.invocations)  # fmt: skip
        # Lambda then runs the function with each payload; the endpoint is the function's own.
        handler = Adapter(
            no_app, dsn=dsn, lifespan="off", api_gateway_endpoint_url=connections_api.endpoint_url
        )
        answers = [
            json.loads(handler(payload, LambdaContextStub())["body"]) for _, _, payload in stub.invocations
        ]
    finally:
        stub.stop()
    assert answers == [{"sent": 3, "gone": 1, "failed": 0}, {"sent": 2, "gone": 0, "failed": 0}]
    assert all(connections_api.sent(connection_id) == [b"news"] for connection_id in ids)
    record = store.load(ids[7])
    assert record is not None
    assert record.ended == "gone"


@pytest.mark.parametrize(
    "shard",
    [
        {"frame": {"text": "x"}, "connection_ids": ["a="], "endpoint_url": "https://evil.example"},
        {"frame": {"text": "x"}, "connection_ids": []},
        {"frame": {"text": "x"}, "connection_ids": ["a/b?c"]},
        {"frame": {"text": "x"}, "connection_ids": "a="},
        {"frame": {"bytes": "not base64!"}, "connection_ids": ["a="]},
        {"frame": {"text": "x", "bytes": "eA=="}, "connection_ids": ["a="]},
        {"frame": "x", "connection_ids": ["a="]},
        ["not", "an", "object"],
    ],
)
def test_a_malformed_shard_is_refused_and_nothing_is_posted(
    shard: Any, dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    handler = Adapter(no_app, dsn=dsn, lifespan="off", api_gateway_endpoint_url=connections_api.endpoint_url)

    answer = handler({DELIVERY_EVENT_KEY: {SHARD_FIELD: shard}}, LambdaContextStub())

    assert answer == {"statusCode": 400, "body": "Bad Request"}
    assert connections_api.calls == []


def test_a_shard_for_a_connection_of_unknown_endpoint_is_refused(dsn: str) -> None:
    handler = Adapter(no_app, dsn=dsn, lifespan="off")
    event = {DELIVERY_EVENT_KEY: {SHARD_FIELD: {"frame": {"text": "x"}, "connection_ids": ["a="]}}}

    assert handler(event, LambdaContextStub()) == {"statusCode": 400, "body": "Bad Request"}
