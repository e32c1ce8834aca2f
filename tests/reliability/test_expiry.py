"""Expiry: a connection whose $disconnect never arrives is gone from every store after its expiry.

API Gateway's `$disconnect` is best effort, so each record carries `expires_at` (by default the
2 h connection maximum plus a margin, RECORD_LIFETIME_SECONDS). Records here get a lifetime of
seconds through that field, which the Backend interface takes; nothing in the runtime is patched.

On all five stores: every read (load, members, rooms, connections) stops showing the record once
`expires_at` passes, an update cannot bring it back, and a MESSAGE then answers 410. And the
store really lets go of it, as far as that shows locally:
- Redis deletes the record key itself at `expires_at` (PXAT), and the next write to the index
  drops the id from it; membership keys expire the record lifetime after their join;
- SQLite and PostgreSQL delete expired rows in a sweep that a save or a read runs when one is due
  (a container's first such call, then at most once a minute), so reads alone purge them;
- DynamoDB items carry the table's TTL attribute ("ttl", whole Unix seconds), TTL enabled on it
  (moto does not run TTL deletion, so only the attribute is checked);
- S3 objects lie under the bucket's lifecycle rule, and the record's expiry is in its metadata.
"""

from __future__ import annotations

import dataclasses
import math
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import boto3
import psycopg2
import pytest
import redis as redis_driver
from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter
from asgiway.backends import Backend, ConnectionRecord, from_dsn
from asgiway.backends.base import RECORD_LIFETIME_SECONDS
from asgiway.backends.dynamodb import TTL_ATTRIBUTE, DynamoDBBackend
from asgiway.backends.postgresql import PostgreSQLBackend
from asgiway.backends.redis import RedisBackend
from asgiway.backends.s3 import EXPIRES_AT_METADATA, LIFECYCLE_EXPIRATION_DAYS, S3Backend
from asgiway.backends.sqlite import SQLiteBackend
from asgiway.connections import Connections
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    message_event,
)

ROOM = "lobby"
SCOPE: dict[str, Any] = {"type": "websocket", "path": "/ws"}
#: Lifetimes tried in turn: the checks made while a record must still be live take a few store
#: calls, which a busy machine (moto's S3 under load) can stretch past a short lifetime. A check
#: that failed after the record's expiry proves nothing, so the scenario is run again, with fresh
#: ids, under the next lifetime; one that failed before it is a real failure.
LIFETIMES_SECONDS = (2.0, 8.0, 30.0)


def live_phase(lifetimes: tuple[float, ...] = LIFETIMES_SECONDS) -> Iterator[float]:
    """Each expiry moment to try: `for expires_at in live_phase(): with checked_before(expires_at): ...`"""
    for lifetime in lifetimes:
        yield time.time() + lifetime
    pytest.fail(f"even a {lifetimes[-1]:g} s lifetime ran out before the live checks were done")


class TooLate(Exception):
    """The live checks failed, but only after the record had expired: inconclusive."""


@contextmanager
def checked_before(expires_at: float) -> Iterator[None]:
    """Let an AssertionError through only if it happened while the record still had to be live."""
    try:
        yield
    except AssertionError:
        if time.time() < expires_at:
            raise
        raise TooLate from None


def wait_past(expires_at: float) -> None:
    """Sleep until `expires_at` has passed by this machine's clock (Redis reads the same one),
    with a little to spare for Redis's expiry, rounded up to the millisecond."""
    delay = expires_at + 0.05 - time.time()
    if delay > 0:
        time.sleep(delay)


def fresh_ids() -> tuple[str, str]:
    """An id for the connection that expires and one for a connection that lives on."""
    token = uuid.uuid4().hex[:8]
    return f"X{token}=", f"L{token}="


# --- How each store lets go of an expired record, checked on the store itself ------------------


def _redis_key(backend: RedisBackend, kind: str, name: str) -> str:
    """A key as the backend's layout names it (see asgiway.backends.redis)."""
    return f"{backend.key_prefix}{kind}:{quote(name, safe='')}"


class RedisExpiry:
    """Redis expires the record key at `expires_at`, with no call from asgiway."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        self.client = redis_driver.Redis(host=backend.host, port=backend.port, db=backend.database)

    def before(self, expiring: str, lasting: str, expires_at: float) -> None:
        record, index = _redis_key(self.backend, "c", expiring), self.backend.key_prefix + "connections"
        assert self.client.pexpiretime(record) == math.ceil(expires_at * 1000)
        # The index expires with its last member: the lasting record keeps it.
        assert self.client.pexpiretime(index) > (time.time() + RECORD_LIFETIME_SECONDS - 60) * 1000
        # Memberships expire on their own too, the record lifetime after their join.
        for kind, name in (("r", ROOM), ("m", expiring)):
            expiry = self.client.pexpiretime(_redis_key(self.backend, kind, name))
            assert 0 < expiry <= (time.time() + RECORD_LIFETIME_SECONDS) * 1000

    def after(self, expiring: str, lasting: str) -> None:
        assert self.client.exists(_redis_key(self.backend, "c", expiring)) == 0
        assert self.client.exists(_redis_key(self.backend, "c", lasting)) == 1
        # The index still lists the id, hidden by its score, until the next write to the index
        # trims the expired entries: it cannot grow with abandoned connections.
        index = self.backend.key_prefix + "connections"
        assert self.client.zscore(index, expiring) is not None
        self.backend.save(ConnectionRecord("newcomer", SCOPE))
        assert self.client.zscore(index, expiring) is None
        assert self.client.zscore(index, lasting) is not None
        self.client.close()


class SQLExpiry:
    """Expired rows stay in the table, hidden, until a sweep: a container's first save or read runs one."""

    def __init__(self, dsn: str, rows: Callable[[str, str], tuple[int, int]]) -> None:
        self.dsn = dsn
        self.rows = rows  # (table rows, room rows) of a connection id

    def before(self, expiring: str, lasting: str, expires_at: float) -> None:
        assert self.rows(self.dsn, expiring) == (1, 1)

    def after(self, expiring: str, lasting: str) -> None:
        # The test's second reader, a new container, swept at its first read: reads alone purged it.
        assert self.rows(self.dsn, expiring) == (0, 0)
        assert self.rows(self.dsn, lasting) == (1, 1)


def sqlite_rows(dsn: str, connection_id: str) -> tuple[int, int]:
    with sqlite3.connect(dsn.removeprefix("sqlite://")) as db:
        (records,) = db.execute(
            "SELECT count(*) FROM asgiway_connections WHERE connection_id = ?", (connection_id,)
        ).fetchone()
        (rooms,) = db.execute(
            "SELECT count(*) FROM asgiway_rooms WHERE connection_id = ?", (connection_id,)
        ).fetchone()
    db.close()
    return int(records), int(rooms)


def postgresql_rows(dsn: str, connection_id: str) -> tuple[int, int]:
    # The dsn sets the test's schema as search_path, as the backend's connection has it.
    connection = psycopg2.connect(dsn)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) FROM asgiway_connections WHERE connection_id = %(id)s),"
                " (SELECT count(*) FROM asgiway_rooms WHERE connection_id = %(id)s)",
                {"id": connection_id},
            )
            found = cursor.fetchone()
    finally:
        connection.close()
    assert found is not None
    return int(found[0]), int(found[1])


class DynamoDBExpiry:
    """Every item carries the TTL attribute the table's TTL reads, in whole Unix seconds."""

    def __init__(self, backend: DynamoDBBackend) -> None:
        self.backend = backend
        self.client = boto3.session.Session().client(
            "dynamodb", region_name=backend.region, endpoint_url=backend.endpoint_url
        )

    def before(self, expiring: str, lasting: str, expires_at: float) -> None:
        described = self.client.describe_time_to_live(TableName=self.backend.table)
        assert described["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
        assert described["TimeToLiveDescription"]["AttributeName"] == TTL_ATTRIBUTE
        items = self.client.query(
            TableName=self.backend.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"conn#{expiring}"}},
            ConsistentRead=True,
        )["Items"]
        by_sort_key = {item["sk"]["S"]: item for item in items}
        assert set(by_sort_key) == {"conn", f"room#{ROOM}"}
        # DynamoDB's TTL ignores an attribute that is not a number of seconds since the epoch.
        assert by_sort_key["conn"][TTL_ATTRIBUTE] == {"N": str(math.ceil(expires_at))}
        membership_ttl = int(by_sort_key[f"room#{ROOM}"][TTL_ATTRIBUTE]["N"])
        assert time.time() < membership_ttl <= time.time() + RECORD_LIFETIME_SECONDS + 1

    def after(self, expiring: str, lasting: str) -> None:
        self.client.close()


class S3Expiry:
    """The bucket's lifecycle rule covers the store's prefix; the record's expiry is its metadata."""

    def __init__(self, backend: S3Backend) -> None:
        self.backend = backend
        self.client = boto3.session.Session().client(
            "s3", region_name=backend.region, endpoint_url=backend.endpoint_url
        )

    def before(self, expiring: str, lasting: str, expires_at: float) -> None:
        rules = self.client.get_bucket_lifecycle_configuration(Bucket=self.backend.bucket)["Rules"]
        assert [
            (rule["Status"], rule.get("Filter", {}).get("Prefix"), rule.get("Expiration", {}).get("Days"))
            for rule in rules
        ] == [("Enabled", self.backend.prefix, LIFECYCLE_EXPIRATION_DAYS)]
        # The rule removes objects a day after their creation at the earliest: a live record,
        # which every save rewrites and which lives 2 h 10 min, is never one of them.
        assert LIFECYCLE_EXPIRATION_DAYS * 86400 > RECORD_LIFETIME_SECONDS
        head = self.client.head_object(
            Bucket=self.backend.bucket, Key=f"{self.backend.prefix}records/{expiring}"
        )
        assert float(head["Metadata"][EXPIRES_AT_METADATA]) == expires_at

    def after(self, expiring: str, lasting: str) -> None:
        self.client.close()


Mechanism = RedisExpiry | SQLExpiry | DynamoDBExpiry | S3Expiry


def mechanism(backend: Backend, dsn: str) -> Mechanism:
    if isinstance(backend, RedisBackend):
        return RedisExpiry(backend)
    if isinstance(backend, SQLiteBackend):
        return SQLExpiry(dsn, sqlite_rows)
    if isinstance(backend, PostgreSQLBackend):
        return SQLExpiry(dsn, postgresql_rows)
    if isinstance(backend, DynamoDBBackend):
        return DynamoDBExpiry(backend)
    assert isinstance(backend, S3Backend)
    return S3Expiry(backend)


def test_an_expired_record_is_gone_from_every_read_and_from_the_store(store_dsn: str) -> None:
    backend = from_dsn(store_dsn)
    store = mechanism(backend, store_dsn)
    for expires_at in live_phase():
        expiring, lasting = fresh_ids()
        try:
            with checked_before(expires_at):
                backend.save(ConnectionRecord(expiring, SCOPE, {"n": 1}, expires_at))
                backend.save(ConnectionRecord(lasting, SCOPE))
                backend.join(expiring, ROOM)
                backend.join(lasting, ROOM)
                # Live until its expiry.
                loaded = backend.load(expiring)
                assert loaded is not None
                assert loaded.expires_at == expires_at
                assert sorted(backend.members(ROOM)) == sorted([expiring, lasting])
                assert backend.rooms(expiring) == [ROOM]
                assert expiring in backend.connections()
                store.before(expiring, lasting, expires_at)
        except TooLate:
            backend.delete(expiring)
            backend.delete(lasting)
            continue
        break

    wait_past(expires_at)

    # Gone from every read, in this container and in a new one, while the other connection stays.
    for reader in (backend, from_dsn(store_dsn)):
        assert reader.load(expiring) is None
        assert reader.members(ROOM) == [lasting]
        assert reader.rooms(expiring) == []
        assert reader.rooms(lasting) == [ROOM]
        connections = reader.connections()
        assert expiring not in connections
        assert lasting in connections
    # A late MESSAGE's state cannot bring it back, even with a later expiry.
    revived = ConnectionRecord(expiring, SCOPE, {"n": 2}, time.time() + 3600)
    assert backend.update(revived) is False
    assert backend.load(expiring) is None
    assert backend.members(ROOM) == [lasting]
    store.after(expiring, lasting)
    backend.close()


class Chat(WebSocketEndpoint):
    """Joins the room at CONNECT; counts and echoes messages; "all: ..." goes to the whole room."""

    encoding = "text"

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        if websocket.scope["asgiway.event"] == "connect":
            websocket.state.count = 0
            await Connections.of(websocket).join(ROOM)

    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        websocket.state.count += 1
        if data.startswith("all: "):
            await Connections.of(websocket).broadcast(data, room=ROOM)
        else:
            await websocket.send_text(f"#{websocket.state.count}: {data}")


def test_a_connection_never_disconnected_is_gone_after_its_expiry(
    store_dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    handler = Adapter(
        Starlette(routes=[WebSocketRoute("/ws", Chat)]),
        dsn=store_dsn,
        websocket_path="/ws",
        api_gateway_endpoint_url=connections_api.endpoint_url,
    )
    assert handler.backend is not None
    backend = handler.backend
    staying = fresh_ids()[1]
    assert handler(connect_event(staying), LambdaContextStub()) == {"statusCode": 200}
    for expires_at in live_phase():
        # A connection of each try's own: a try that ran late may have closed its connection.
        abandoned = fresh_ids()[0]
        try:
            with checked_before(expires_at):
                connected_at = time.time()
                assert handler(connect_event(abandoned), LambdaContextStub()) == {"statusCode": 200}
                # CONNECT gave the record the full lifetime: API Gateway's 2 h maximum plus the margin.
                record = backend.load(abandoned)
                assert record is not None
                assert (
                    connected_at + RECORD_LIFETIME_SECONDS
                    <= record.expires_at
                    <= time.time() + RECORD_LIFETIME_SECONDS
                )
                # Bring that moment close: the record as it stands seconds before its expiry.
                assert backend.update(dataclasses.replace(record, expires_at=expires_at))
                # A MESSAGE stores new state but never extends the lifetime (API Gateway's limit
                # runs from the connection's start, however busy it is).
                assert handler(message_event(abandoned, "hello"), LambdaContextStub()) == {"statusCode": 200}
                assert connections_api.sent(abandoned) == [b"#1: hello"]
                updated = backend.load(abandoned)
                assert updated is not None
                assert updated.state == {"count": 1}
                assert updated.expires_at == expires_at
        except TooLate:
            backend.delete(abandoned)
            continue
        break

    wait_past(expires_at)  # and no $disconnect ever comes

    for reader in (backend, from_dsn(store_dsn)):
        assert reader.load(abandoned) is None
        assert reader.rooms(abandoned) == []
        assert reader.members(ROOM) == [staying]
        assert abandoned not in reader.connections()
    # A broadcast to the room reaches only the live member.
    assert handler(message_event(staying, "all: bye"), LambdaContextStub()) == {"statusCode": 200}
    assert connections_api.sent(staying) == [b"all: bye"]
    assert connections_api.sent(abandoned) == [b"#1: hello"]
    closed_before = len(connections_api.calls_of("DELETE"))
    # A late MESSAGE on it is refused as gone, and @connections is asked to close it, so that
    # its client (if API Gateway still holds it) reconnects and starts anew.
    assert handler(message_event(abandoned, "late"), LambdaContextStub()) == {
        "statusCode": 410,
        "body": "Gone",
    }
    assert [call.connection_id for call in connections_api.calls_of("DELETE")[closed_before:]] == [abandoned]
    # A $disconnect arriving after all finds nothing to do.
    assert handler(disconnect_event(abandoned), LambdaContextStub()) == {"statusCode": 200}
    assert backend.load(staying) is not None
    handler.close()
