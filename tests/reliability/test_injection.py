"""Injection: connection ids, room names and state keys crafted as SQL, Redis glob, S3 path
traversal and JSON payloads change nothing outside their own record.

Every test runs on each real store (`store_dsn`). It first sets up innocent connections, rooms and
state (`INNOCENT`), then works with hostile values, then checks that the innocent part of the store
is byte for byte what it was (`Snapshot`): a value that any store took for syntax (a SQL quote, a
glob, a key separator, a path segment) would have reached another record, room or key.

Hostile values must round-trip exactly, or be refused with a BackendError that says why where a
store documents a limit: PostgreSQL cannot hold NUL in text, S3 keys and DynamoDB sort keys hold
1,024 bytes, and no store can keep a name with a lone surrogate (it has no UTF-8 form).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter
from asgiway.backends import Backend, ConnectionRecord, from_dsn
from asgiway.backends import dynamodb as dynamodb_store
from asgiway.backends import s3 as s3_store
from asgiway.backends.base import RECORD_LIFETIME_SECONDS
from asgiway.connections import HANDSHAKE_GRACE_SECONDS, Connections
from asgiway.exceptions import BackendError
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    message_event,
)

# --- Hostile values ------------------------------------------------------------------------------

#: SQL: quotes that end a literal, statements after it, LIKE wildcards that would widen a match.
SQL = [
    "'; DROP TABLE asgiway_connections; --",
    "'; DROP TABLE asgiway_rooms; --",
    '" OR 1=1 --',
    "' OR '1'='1",
    "x' UNION SELECT connection_id FROM asgiway_connections --",
    "%",
    "_",
    "lob%",
    "lobb_",
]
#: Redis: glob patterns (KEYS/SCAN/MATCH), escapes, Cluster hash tags, and look-alikes of the
#: store's own key layout (`<prefix>c:<id>`, `<prefix>r:<room>`, `<prefix>connections`).
REDIS = [
    "*",
    "?",
    "[a-z]",
    "[^x]*",
    "\\",
    "\\*",
    "{slot}",
    "{asgiway}:c:*",
    ":",
    "c:innocent-1=",
    "r:lobby",
    "m:innocent-1=",
    "connections",
    "lobby:*",
]
#: S3: path traversal and look-alikes of the key layout (`records/<id>`, `members/<room>/<id>`,
#: `rooms/<id>/<room>`), raw and percent-encoded, and an encoded NUL.
S3 = [
    "..",
    ".",
    "../",
    "../records/innocent-1=",
    "..%2F..%2Frecords%2Finnocent-1=",
    "%2e%2e%2f",
    "/",
    "//",
    "lobby/innocent-1=",
    "members/lobby",
    "rooms/innocent-1=/lobby",
    "%00",
    "innocent-1=%2F..",
    "",
]
#: DynamoDB: look-alikes of its key tags (`conn#<id>`, `room#<room>`, the record's sort key `conn`).
DYNAMODB = ["conn#innocent-1=", "room#lobby", "conn", "#"]
#: JSON: documents, escapes, quotes and line breaks, which a store keeping JSON must not splice.
JSON = [
    '{"a":1}',
    '"\\u0000"',
    '"',
    "'",
    "\n",
    "\r\n",
    "\t",
    '{"scope":{},"state":{},"expires_at":0}',
    '"},"state":{"admin":true},"x":{"',
    "[]",
    "null",
]
#: Unicode and controls: case, padding, invisible and compatibility characters must never fold
#: into an innocent name; NUL is refused by PostgreSQL only (documented), kept by the others.
UNICODE = [
    "ünïcødé ✓ 中文 🎉",
    "LOBBY",
    "lobby ",
    " lobby",
    "lobby\u200b",
    "\u202elobby",
    "\ufeff",
    "ﬁ",
    "A\u030a",
    "\x00",
    "lobby\x00",
    "\x7f",
    "\x1f",
    "\uffff",
]
HOSTILE = [*SQL, *REDIS, *S3, *DYNAMODB, *JSON, *UNICODE]

#: Room names a glob, LIKE or regex engine would match against the innocent rooms.
PATTERNS = [
    "*",
    "?",
    "??",
    "?????",
    "[a-z]",
    "[alz]*",
    "lob*",
    "lob?y",
    "%",
    "_",
    "lob%",
    "lobb_",
    ".*",
    "lob",
    "lobby/",
    "lobby/*",
    "a|z",
    "(?i)LOBBY",
    "",
]
#: Connection ids that would match the innocent ids as patterns.
ID_PATTERNS = ["*", "innocent-?=", "innocent-[0-9]=", "innocent-%", "innocent-_=", "innocent-", ""]

# --- The innocent part of the store --------------------------------------------------------------

#: Innocent connections, each with its rooms. "a" and "z" are one letter, so "?" and "[a-z]" would
#: match them as patterns; "lobby" is what "lob*", "lob%" and "lob?y" would reach.
INNOCENT: dict[str, list[str]] = {
    "innocent-1=": ["lobby", "z"],
    "innocent-2=": ["lobby"],
    "innocent-3=": ["a"],
}
INNOCENT_ROOMS = sorted({room for rooms in INNOCENT.values() for room in rooms})
#: A fixed expiry, so that records compare exactly whatever the clock says.
EXPIRES_AT = float(int(time.time()) + 3600)


def innocent_record(connection_id: str) -> ConnectionRecord:
    scope = {"type": "websocket", "path": "/ws", "headers": [["host", "example.com"]]}
    state = {"user": connection_id.removesuffix("="), "admin": False, "n": 1}
    return ConnectionRecord(connection_id, scope, state, EXPIRES_AT)


def hostile_record(connection_id: str, value: str) -> ConnectionRecord:
    """The value everywhere a record holds strings: as its id, in its scope, as a state key and value."""
    scope = {"type": "websocket", "path": "/ws", "headers": [["x-hostile", value]], "extra": {value: value}}
    state = {value: value, "nested": {"list": [value, {value: None}]}}
    return ConnectionRecord(connection_id, scope, state, EXPIRES_AT)


@dataclass(frozen=True)
class Snapshot:
    """Everything innocent a store holds: each record as its JSON document, each membership."""

    records: dict[str, str | None]
    rooms: dict[str, list[str]]
    members: dict[str, list[str]]

    @classmethod
    def of(cls, store: Backend) -> Snapshot:
        records: dict[str, str | None] = {}
        for connection_id in INNOCENT:
            record = store.load(connection_id)
            records[connection_id] = None if record is None else record.document()
        return cls(
            records,
            {connection_id: sorted(store.rooms(connection_id)) for connection_id in INNOCENT},
            {room: sorted(store.members(room)) for room in INNOCENT_ROOMS},
        )


@pytest.fixture
def store(store_dsn: str) -> Iterator[Backend]:
    """The store with the innocent connections saved and their rooms joined."""
    backend = from_dsn(store_dsn)
    for connection_id, rooms in INNOCENT.items():
        backend.save(innocent_record(connection_id))
        for room in rooms:
            backend.join(connection_id, room)
    yield backend
    backend.close()


@pytest.fixture
def innocent(store: Backend) -> Snapshot:
    """The innocent part as set up, checked once against what was written."""
    snapshot = Snapshot.of(store)
    assert snapshot.records == {c: innocent_record(c).document() for c in INNOCENT}
    assert snapshot.rooms == {c: sorted(rooms) for c, rooms in INNOCENT.items()}
    assert snapshot.members == {
        room: sorted(c for c, rooms in INNOCENT.items() if room in rooms) for room in INNOCENT_ROOMS
    }
    return snapshot


def store_name(store: Backend) -> str:
    return type(store).__name__.removesuffix("Backend").lower()


def documented_refusal(store: Backend, value: str) -> str | None:
    """What the error must say when the store documents that it cannot hold `value`, else None."""
    if store_name(store) == "postgresql" and "\x00" in value:
        return "NUL"  # PostgreSQL text cannot hold U+0000; psycopg2 refuses it before sending
    return None


def members_or_refused(store: Backend, room: str) -> list[str]:
    """members(room), where a store may refuse to even look up a name it could never hold."""
    try:
        return store.members(room)
    except BackendError:
        return []


# --- The store, driven directly ------------------------------------------------------------------


def test_hostile_ids_and_rooms_round_trip_and_touch_nothing_else(store: Backend, innocent: Snapshot) -> None:
    """Each hostile value as a connection id that joins a room of the same name and "lobby"."""
    for value in HOSTILE:
        refusal = documented_refusal(store, value)
        if refusal is not None:
            with pytest.raises(BackendError, match=refusal):
                store.save(hostile_record(value, value))
            with pytest.raises(BackendError, match=refusal):
                store.join("innocent-1=", value)
            continue
        saved = hostile_record(value, value)
        store.save(saved)
        loaded = store.load(value)
        assert loaded is not None, f"{value!r} was saved but does not load"
        assert (loaded.connection_id, loaded.document()) == (value, saved.document()), value

        changed = ConnectionRecord(value, saved.scope, {**saved.state, "again": value}, EXPIRES_AT)
        assert store.update(changed), value
        reloaded = store.load(value)
        assert reloaded is not None, value
        assert reloaded.document() == changed.document(), value

        store.join(value, value)
        store.join(value, "lobby")
        assert store.members(value) == [value], value
        assert sorted(store.rooms(value)) == sorted({value, "lobby"}), value
        assert value in store.connections(), value
        store.leave(value, value)
        assert store.members(value) == [], value
        assert store.rooms(value) == ["lobby"], value

        store.delete(value)
        assert store.load(value) is None, value
        assert sorted(store.members("lobby")) == innocent.members["lobby"], value

    assert Snapshot.of(store) == innocent
    assert sorted(store.connections()) == sorted(INNOCENT)


def test_wildcard_like_names_match_no_other_room_or_connection(store: Backend, innocent: Snapshot) -> None:
    """members("*") lists the members of the room named "*", never everyone."""
    for pattern in PATTERNS:
        assert store.members(pattern) == [], f"members({pattern!r}) matched other rooms"
    for pattern in ID_PATTERNS:
        assert store.load(pattern) is None, f"load({pattern!r}) matched another connection"
        assert store.rooms(pattern) == [], f"rooms({pattern!r}) matched another connection"
        store.delete(pattern)  # must not delete the innocent connections it would match

    store.save(hostile_record("attacker=", "*"))
    store.join("attacker=", "*")
    assert store.members("*") == ["attacker="]
    for pattern in PATTERNS:
        if pattern != "*":
            assert store.members(pattern) == [], f"members({pattern!r}) matched other rooms"
    store.delete("attacker=")
    assert Snapshot.of(store) == innocent


def test_state_keys_and_values_round_trip_exactly(store: Backend, innocent: Snapshot) -> None:
    """One record whose state has every hostile value as a key, and as a value in every JSON type."""
    state: dict[str, Any] = {value: {"text": value, "list": [value, None, 1.5, True]} for value in HOSTILE}
    scope = {"type": "websocket", "path": "/ws", "query_string": "&".join(HOSTILE)}
    saved = ConnectionRecord("attacker=", scope, state, EXPIRES_AT)
    store.save(saved)
    loaded = store.load("attacker=")
    assert loaded is not None
    assert loaded.state == state
    assert list(loaded.state) == list(state)  # key order is part of the record's bytes
    assert loaded.document() == saved.document()
    assert Snapshot.of(store) == innocent


def test_a_json_string_with_a_lone_surrogate_round_trips_as_state(store: Backend, innocent: Snapshot) -> None:
    """A client's JSON may hold "\\ud800", which json.loads turns into a lone surrogate; an app that
    keeps it in its state must get it back, as JSON can carry it escaped (persistable accepts it)."""
    state = {"name": "\ud800", "\udfff": "key"}
    saved = ConnectionRecord("attacker=", {"type": "websocket"}, state, EXPIRES_AT)
    store.save(saved)
    loaded = store.load("attacker=")
    assert loaded is not None
    assert loaded.state == state
    assert Snapshot.of(store) == innocent


def test_a_name_with_a_lone_surrogate_is_refused_with_a_backend_error(
    store: Backend, innocent: Snapshot
) -> None:
    """A lone surrogate has no UTF-8 form, so no store can hold it as an id or a room name: each says
    so with the store's own error, which the adapter answers with 503, not with a raw codec error."""
    for name in ("\ud800", "lobby\udfff"):
        with pytest.raises(BackendError, match="surrogate"):
            store.save(ConnectionRecord(name, {"type": "websocket"}, {}, EXPIRES_AT))
        with pytest.raises(BackendError, match="surrogate"):
            store.join("innocent-1=", name)
        with pytest.raises(BackendError, match="surrogate"):
            store.join(name, "lobby")
    assert Snapshot.of(store) == innocent


#: DynamoDB's limit on a sort key (the by-connection membership's `room#<room>`), in UTF-8 bytes.
DYNAMODB_SORT_KEY_BYTES = 1024


def longest_room_name(store: Backend, connection_id: str) -> int | None:
    """The longest room name, in UTF-8 bytes, that the store documents for the connection; None
    for stores without a limit (SQL text and Redis keys hold far more than a name needs)."""
    if isinstance(store, s3_store.S3Backend):
        # `P members/<room>/<id>` and `P rooms/<id>/<room>` are as long; a key holds 1,024 bytes.
        fixed = store.prefix + s3_store.MEMBERS + "/" + s3_store.encode(connection_id)
        return s3_store.MAX_KEY_BYTES - len(fixed.encode())
    if isinstance(store, dynamodb_store.DynamoDBBackend):
        return DYNAMODB_SORT_KEY_BYTES - len(dynamodb_store.ROOM_TAG)
    return None


def test_a_room_name_at_the_key_limit_round_trips_and_a_longer_one_is_refused_whole(
    store: Backend, innocent: Snapshot
) -> None:
    """Names near the key limits: the longest one a store documents works; one byte more (or a
    name that is short in characters but long in bytes) is refused before anything is written,
    with a message that names the room name and the limit."""
    store.save(innocent_record("attacker="))
    limit = longest_room_name(store, "attacker=")
    longest = "r" * (4096 if limit is None else limit)
    store.join("attacker=", longest)
    assert store.members(longest) == ["attacker="]
    assert store.rooms("attacker=") == [longest]
    store.leave("attacker=", longest)

    if limit is not None:
        for too_long in ("r" * (limit + 1), "é" * (limit // 2 + 1)):
            with pytest.raises(BackendError, match="room name") as refused:
                store.join("attacker=", too_long)
            assert f"{1024:,}" in str(refused.value) or "1024" in str(refused.value)
            # Refused whole: a half-written membership would show in members() and never be deleted.
            assert members_or_refused(store, too_long) == [], f"{len(too_long.encode())} bytes"
            assert store.rooms("attacker=") == []
    store.delete("attacker=")
    assert Snapshot.of(store) == innocent


# --- Through the Adapter, with values a client chooses ---------------------------------------------

#: Values a client can put in its query string: as its room, and as a key and value of its state.
CLIENT_VALUES = [
    "*",
    "?",
    "[a-z]",
    "lob%",
    "_",
    "../lobby",
    "..%2Flobby",
    "'; DROP TABLE asgiway_rooms; --",
    '" OR 1=1 --',
    '{"a":1}',
    "{asgiway}:r:lobby",
    "lobby\n",
    "ünï 🎉",
    "&room=lobby",
    "a=b&c",
    "#lobby",
    "+",
    "%2A",
]


def chat_app() -> Starlette:
    """Joins ?room= at CONNECT and keeps ?key=?value= in its state; broadcasts each message to
    its room and keeps the last one in its state under the client's key."""

    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        connections = Connections.of(websocket)
        state: dict[str, Any] = websocket.scope["state"]
        if websocket.scope["asgiway.event"] == "connect":
            state["room"] = websocket.query_params["room"]
            state[websocket.query_params["key"]] = websocket.query_params["value"]
            await connections.join(state["room"])
        text = await websocket.receive_text()
        await connections.broadcast(text, room=state["room"])
        state["last"] = text
        await websocket.receive_text()

    return Starlette(routes=[WebSocketRoute("/ws", chat)])


def test_client_chosen_rooms_and_state_keys_stay_in_their_own_record(
    store_dsn: str, store: Backend, innocent: Snapshot, connections_api: ConnectionsApiDouble
) -> None:
    handler = Adapter(
        chat_app(),
        dsn=store_dsn,
        websocket_path="/ws",
        api_gateway_endpoint_url=connections_api.endpoint_url,
        lifespan="off",
    )
    try:
        for number, value in enumerate(CLIENT_VALUES):
            connection_id = f"hostile-{number}="
            query = {"room": [value], "key": [value], "value": [value]}
            connected = handler(connect_event(connection_id, query=query), LambdaContextStub())
            assert connected["statusCode"] == 200, value
            record = store.load(connection_id)
            assert record is not None, value
            assert record.state == {"room": value, value: value}, value
            assert store.members(value) == [connection_id], value

            text = f"hello {value}"
            replied = handler(message_event(connection_id, text), LambdaContextStub())
            assert replied == {"statusCode": 200}, value
            # The broadcast reached the room of exactly that name, which holds the sender alone.
            assert connections_api.sent(connection_id) == [text.encode()], value
            record = store.load(connection_id)
            assert record is not None, value
            assert record.state == {"room": value, value: value, "last": text}, value

            assert handler(disconnect_event(connection_id), LambdaContextStub()) == {"statusCode": 200}, value
            assert store.load(connection_id) is None, value
            assert store.members(value) == [], value
    finally:
        handler.close()

    assert [call.connection_id for call in connections_api.calls if call.connection_id in INNOCENT] == []
    assert Snapshot.of(store) == innocent


#: Connection ids an app may take from a client ("send this to X"): each reaches X alone.
SEND_IDS = ["..", ".", "../innocent-1=", "innocent-2=/../innocent-1=", "..%2Finnocent-1=", "*", "innocent-?="]


def test_sends_to_hostile_ids_reach_and_end_only_that_id(
    store: Backend, innocent: Snapshot, connections_api: ConnectionsApiDouble
) -> None:
    """@connections answers 410 for each; the record marked gone is the hostile one, no other."""
    # Saved long enough ago that a 410 means "gone", not "still in its handshake".
    past = time.time() + RECORD_LIFETIME_SECONDS - 2 * HANDSHAKE_GRACE_SECONDS
    for connection_id in SEND_IDS:
        store.save(ConnectionRecord(connection_id, {"type": "websocket"}, {}, past))
        connections_api.gone.add(connection_id)
    connections = Connections(backend=store, endpoint_url=connections_api.endpoint_url)

    for connection_id in SEND_IDS:
        assert asyncio.run(connections.send(connection_id, "hi")) is False, connection_id
        gone = store.load(connection_id)
        assert gone is not None, connection_id
        assert gone.ended == "gone", connection_id
    assert [call.connection_id for call in connections_api.calls] == SEND_IDS
    assert Snapshot.of(store) == innocent
