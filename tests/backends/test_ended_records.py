"""Ended connections (`ConnectionRecord.ended`, `Backend.end`), on every store of test_conformance.

A connection @connections answered 410 for, or that the app closed, is *ended* until its
DISCONNECT deletes it (or its record expires): out of every room and listing, while `load` still
returns its record. Each store in `CASES` runs these checks, and so does a minimal third-party
backend that implements no `end` of its own and relies on `Backend.end`, the default.

Also here: a sqlite file and a PostgreSQL schema made by the version before `ended` keep working.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest

from asgiway.backends import Backend, ConnectionRecord, Dsn, from_dsn
from asgiway.backends.base import CLOSED, GONE
from tests.backends.test_conformance import CASES, STALL_SECONDS, BackendCase, record
from tests.support import stores
from tests.support.services import POSTGRES_HOST, POSTGRES_PORT, listening, postgres_dsn, require

# A backend as a third party writes one


class ThirdPartyBackend(Backend):
    """A store in memory, written as `register_backend` takes one: with no `end` of its own.

    It does what `Backend.end` asks of such a backend: it keeps records as `document()`s (so
    `ended` with them), its `update` keeps a stored `ended`, and its `members` and `connections`
    leave ended records out. Backends made from the same token share one store.
    """

    schemes: ClassVar[tuple[str, ...]] = ("thirdparty",)
    _stores: ClassVar[dict[str, tuple[threading.Lock, dict[str, str], dict[str, set[str]]]]] = {}

    def __init__(self, token: str) -> None:
        self.token = token
        self._lock, self._records, self._rooms = self._stores.setdefault(token, (threading.Lock(), {}, {}))

    @classmethod
    def from_dsn(cls, dsn: Dsn) -> ThirdPartyBackend:
        return cls(dsn.database or "")

    @classmethod
    def forget(cls, token: str) -> None:
        cls._stores.pop(token, None)

    def describe(self) -> str:
        return f"third-party memory store {self.token}"

    def save(self, record: ConnectionRecord) -> None:
        with self._lock:
            self._records[record.connection_id] = record.document()

    def update(self, record: ConnectionRecord) -> bool:
        with self._lock:
            stored = self._get(record.connection_id)
            if stored is None:
                return False
            self._records[record.connection_id] = replace(
                record, ended=stored.ended or record.ended
            ).document()
            return True

    def load(self, connection_id: str) -> ConnectionRecord | None:
        with self._lock:
            return self._get(connection_id)

    def delete(self, connection_id: str) -> None:
        with self._lock:
            self._records.pop(connection_id, None)
            for members in self._rooms.values():
                members.discard(connection_id)

    def join(self, connection_id: str, room: str) -> None:
        with self._lock:
            self._rooms.setdefault(room, set()).add(connection_id)

    def leave(self, connection_id: str, room: str) -> None:
        with self._lock:
            self._rooms.get(room, set()).discard(connection_id)

    def members(self, room: str) -> list[str]:
        with self._lock:
            return [c for c in self._rooms.get(room, set()) if self._connected(c)]

    def rooms(self, connection_id: str) -> list[str]:
        with self._lock:
            if not self._connected(connection_id):
                return []
            return [room for room, members in self._rooms.items() if connection_id in members]

    def connections(self) -> list[str]:
        with self._lock:
            return [c for c in self._records if self._connected(c)]

    def _get(self, connection_id: str) -> ConnectionRecord | None:
        document = self._records.get(connection_id)
        if document is None:
            return None
        stored = ConnectionRecord.from_document(connection_id, document)
        return None if stored.expired else stored

    def _connected(self, connection_id: str) -> bool:
        stored = self._get(connection_id)
        return stored is not None and stored.ended is None


THIRD_PARTY = "third-party"
ALL_CASES = [
    *CASES,
    BackendCase(
        THIRD_PARTY,
        lambda tmp, token, request: ThirdPartyBackend(token),
        clean=ThirdPartyBackend.forget,
    ),
]


@pytest.fixture(params=ALL_CASES, ids=[case.name for case in ALL_CASES])
def case(request: pytest.FixtureRequest) -> BackendCase:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def make(
    case: BackendCase, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], Backend]]:
    """Builds backends on this test's store, closing them all and cleaning up at the end."""
    token = uuid.uuid4().hex[:12]
    made: list[Backend] = []

    def build() -> Backend:
        made.append(case.make(tmp_path, token, request))
        return made[-1]

    yield build
    for backend in made:
        backend.close()
    if case.clean is not None:
        case.clean(token)


@pytest.fixture
def backend(make: Callable[[], Backend]) -> Backend:
    return make()


def loaded(backend: Backend, connection_id: str) -> ConnectionRecord:
    found = backend.load(connection_id)
    assert found is not None, f"no record of {connection_id!r}"
    return found


# The record


def test_ended_must_be_a_known_reason() -> None:
    assert ConnectionRecord("c", {}).ended is None
    assert ConnectionRecord("c", {}, ended=GONE).ended == "gone"
    assert ConnectionRecord("c", {}, ended=CLOSED).ended == "closed"
    for wrong in ("", "Gone", "left", 410):
        with pytest.raises(ValueError, match="ended must be None or one of 'gone', 'closed'"):
            ConnectionRecord("c", {}, ended=wrong)  # type: ignore[arg-type]


def test_documents_and_columns_carry_ended() -> None:
    live = ConnectionRecord("c", {"path": "/ws"}, {"n": 1}, 2_000_000_000.5)
    # A live record's document is the one earlier versions wrote: no `ended` at all.
    assert live.document() == '{"scope":{"path":"/ws"},"state":{"n":1},"expires_at":2000000000.5}'
    assert ConnectionRecord.from_document("c", live.document()) == live
    ended = replace(live, ended=GONE)
    assert ended.document().startswith('{"ended":"gone","scope":')
    assert ended.document().endswith('"expires_at":2000000000.5}')
    assert ConnectionRecord.from_document("c", ended.document()) == ended
    assert ConnectionRecord.from_columns("c", '{"path":"/ws"}', '{"n":1}', 2_000_000_000.5) == live
    assert ConnectionRecord.from_columns("c", '{"path":"/ws"}', '{"n":1}', 2_000_000_000.5, "gone") == ended


# end()


def test_end_takes_the_connection_out_of_every_room_and_listing(backend: Backend) -> None:
    backend.save(record("a"))
    backend.save(record("b"))
    backend.join("a", "lobby")
    backend.join("a", "games")
    backend.join("b", "lobby")
    assert backend.end("a", GONE) is True
    assert backend.members("lobby") == ["b"]
    assert backend.members("games") == []
    assert backend.rooms("a") == []
    assert backend.connections() == ["b"]
    assert backend.rooms("b") == ["lobby"]


def test_load_returns_the_ended_record_whole(backend: Backend) -> None:
    # Values a decode and encode could change: big integers, empty containers, a lone surrogate.
    state = {"user": "bob", "big": 10**15, "ratio": 0.1, "empty": {}, "none": [], "odd": "\ud800 ünï 🎉"}
    saved = replace(record("a"), state=state)
    backend.save(saved)
    assert backend.end("a", GONE) is True
    found = loaded(backend, "a")
    assert found.ended == "gone"
    assert found.scope == saved.scope
    assert found.state == state
    assert found.expires_at == pytest.approx(saved.expires_at)


@pytest.mark.parametrize(("first", "second"), [(GONE, CLOSED), (CLOSED, GONE), (GONE, GONE)])
def test_an_ended_record_keeps_its_first_reason(backend: Backend, first: str, second: str) -> None:
    backend.save(record("a"))
    assert backend.end("a", first) is True
    assert backend.end("a", second) is True
    assert loaded(backend, "a").ended == first


def test_end_of_an_unknown_or_expired_connection_writes_nothing(backend: Backend) -> None:
    assert backend.end("nobody", GONE) is False
    assert backend.load("nobody") is None
    backend.save(record("old", expires_in=-1))
    assert backend.end("old", GONE) is False
    assert backend.load("old") is None
    # A join made before the save is kept by a failed end: it shows once the record is saved.
    backend.join("early", "lobby")
    assert backend.end("early", CLOSED) is False
    backend.save(record("early"))
    assert loaded(backend, "early").ended is None
    assert backend.members("lobby") == ["early"]
    assert backend.connections() == ["early"]


def test_end_refuses_an_unknown_reason_before_writing(backend: Backend) -> None:
    backend.save(record("a"))
    backend.join("a", "lobby")
    with pytest.raises(ValueError, match="ended must be None or one of"):
        backend.end("a", "left")
    assert loaded(backend, "a").ended is None
    assert backend.members("lobby") == ["a"]


def test_a_new_backend_on_the_same_store_sees_the_end(make: Callable[[], Backend]) -> None:
    first, second = make(), make()
    first.save(record("a"))
    first.join("a", "lobby")
    assert second.members("lobby") == ["a"]
    assert first.end("a", CLOSED) is True
    assert second.members("lobby") == []
    assert loaded(second, "a").ended == "closed"


# update(), save(), join() and delete() of an ended connection


def test_update_keeps_an_ended_record_ended(backend: Backend) -> None:
    """A MESSAGE that loaded the record before another event ended it writes its state back."""
    before = record("a", count=1)
    backend.save(before)
    backend.join("a", "lobby")
    assert backend.end("a", GONE) is True
    assert before.ended is None
    assert backend.update(replace(before, state={"count": 2})) is True
    found = loaded(backend, "a")
    assert (found.ended, found.state) == ("gone", {"count": 2})
    assert backend.connections() == []
    assert backend.members("lobby") == []
    assert backend.rooms("a") == []


def test_update_keeps_the_first_reason(backend: Backend) -> None:
    backend.save(record("a"))
    assert backend.end("a", GONE) is True
    assert backend.update(record("a", ended=CLOSED, count=2)) is True
    assert loaded(backend, "a").ended == "gone"


def test_update_can_end_a_live_record_but_never_revive_it(backend: Backend) -> None:
    backend.save(record("a", count=1))
    assert backend.update(replace(record("a", count=2), ended=CLOSED)) is True
    assert (loaded(backend, "a").ended, loaded(backend, "a").state) == ("closed", {"count": 2})
    assert backend.connections() == []
    assert backend.update(record("a", count=3)) is True
    assert loaded(backend, "a").ended == "closed"


def test_save_writes_the_ended_of_the_record(backend: Backend) -> None:
    """The app accepted then closed at CONNECT: a tombstone, for its DISCONNECT to delete quietly."""
    tombstone = replace(record("t", user="ada"), ended=CLOSED)
    backend.save(tombstone)
    backend.join("t", "lobby")
    found = loaded(backend, "t")
    assert (found.ended, found.state) == ("closed", {"user": "ada"})
    assert backend.connections() == []
    assert backend.members("lobby") == []
    assert backend.rooms("t") == []
    # A save of a live record (a new CONNECT under the id) makes it live, like any save.
    backend.save(record("t"))
    assert loaded(backend, "t").ended is None
    assert backend.connections() == ["t"]


def test_a_join_after_the_end_never_shows(backend: Backend) -> None:
    backend.save(record("a"))
    backend.join("a", "lobby")
    assert backend.end("a", GONE) is True
    backend.join("a", "lobby")
    backend.join("a", "games")
    assert backend.members("lobby") == []
    assert backend.members("games") == []
    assert backend.rooms("a") == []
    # Ending again removes what was joined since, keeping the reason.
    assert backend.end("a", CLOSED) is True
    assert loaded(backend, "a").ended == "gone"


def test_delete_after_the_end_removes_everything(backend: Backend) -> None:
    backend.save(record("a"))
    backend.join("a", "lobby")
    assert backend.end("a", GONE) is True
    backend.join("a", "games")  # after the end: invisible, and still to be removed
    backend.delete("a")
    assert backend.load("a") is None
    assert backend.end("a", GONE) is False
    assert backend.update(record("a")) is False
    # Saved again (an id reused), the connection starts with no room at all.
    backend.save(record("a"))
    assert backend.rooms("a") == []
    assert backend.members("lobby") == []
    assert backend.members("games") == []


# Expiry


def test_an_ended_record_disappears_when_it_expires(backend: Backend) -> None:
    backend.connections()  # connect and set up first, so the short lifetime below is all the store's
    # Two seconds, for the save, join, end and load that must come before the expiry.
    soon = record("soon", expires_in=2.0)
    backend.save(soon)
    backend.join("soon", "lobby")
    assert backend.end("soon", GONE) is True
    assert loaded(backend, "soon").ended == "gone"
    time.sleep(max(0.0, soon.expires_at - time.time()) + 0.1)  # the stores compare with this clock
    assert backend.load("soon") is None
    assert backend.update(record("soon", count=2)) is False
    assert backend.end("soon", CLOSED) is False
    assert backend.members("lobby") == []
    assert backend.connections() == []
    # A record saved under the id afterwards is a new one: live, with no room.
    backend.save(record("soon"))
    assert loaded(backend, "soon").ended is None
    assert backend.rooms("soon") == []


def test_an_expired_tombstone_is_gone(backend: Backend) -> None:
    backend.save(replace(record("t", expires_in=-1), ended=CLOSED))
    assert backend.load("t") is None
    assert backend.end("t", GONE) is False
    assert backend.update(record("t")) is False


# Use from several threads


def race(*calls: Callable[[], object]) -> list[object]:
    """Run the calls at the same moment, each in a thread; their results, or the test fails."""
    start = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            start.wait()
            results[index] = call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=pair, daemon=True) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(STALL_SECONDS)
        assert not thread.is_alive(), f"a call did not return within {STALL_SECONDS:g} s"
    assert errors == []
    return results


ROUNDS = 20


def test_end_racing_update_never_leaves_the_connection_live(
    case: BackendCase, make: Callable[[], Backend]
) -> None:
    """A MESSAGE's update that loaded the record live, against a 410 in another container."""
    backend, other = make(), make()
    for i in range(ROUNDS):
        connection_id = f"c{i}"
        before = record(connection_id, n=0)
        backend.save(before)
        backend.join(connection_id, "lobby")
        ended, updated = race(
            lambda: backend.end(connection_id, GONE),  # noqa: B023 - called within this round
            lambda: other.update(replace(before, state={"n": i})),  # noqa: B023
        )
        assert ended is True
        found = loaded(backend, connection_id)
        assert found.ended == "gone", i
        assert connection_id not in backend.members("lobby"), i
        assert connection_id not in backend.connections(), i
        assert backend.rooms(connection_id) == [], i
        # The built-in stores lose neither write: an update that says True has its state kept.
        # (The default `end` is not atomic: it writes back the state it loaded.)
        if updated and case.name != THIRD_PARTY:
            assert found.state == {"n": i}, i


def test_end_racing_join_never_leaves_the_connection_in_a_room(make: Callable[[], Backend]) -> None:
    """The app joins a room for a connection that a 410 in another container ends."""
    backend, other = make(), make()
    for i in range(ROUNDS):
        connection_id = f"c{i}"
        backend.save(record(connection_id))
        backend.join(connection_id, "lobby")
        race(
            lambda: backend.end(connection_id, CLOSED),  # noqa: B023 - called within this round
            lambda: other.join(connection_id, "games"),  # noqa: B023
        )
        assert backend.members("lobby") == [], i
        assert backend.members("games") == [], i
        assert backend.rooms(connection_id) == [], i
        backend.delete(connection_id)
        backend.save(record(connection_id))
        assert backend.rooms(connection_id) == [], i
        backend.delete(connection_id)


# Stores made by the version before `ended`

#: The sqlite tables as the version before `ended` created them.
OLD_SQLITE_SCHEMA = """
CREATE TABLE asgiway_connections (connection_id TEXT PRIMARY KEY, scope TEXT NOT NULL,
    state TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE INDEX asgiway_connections_expiry ON asgiway_connections (expires_at);
CREATE TABLE asgiway_rooms (room TEXT NOT NULL, connection_id TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (room, connection_id));
CREATE INDEX asgiway_rooms_connection ON asgiway_rooms (connection_id);
"""
#: What that version ran to save a record and join a room.
OLD_SQLITE_SAVE = (
    "INSERT OR REPLACE INTO asgiway_connections (connection_id, scope, state, expires_at) VALUES (?, ?, ?, ?)"
)
OLD_SQLITE_JOIN = "INSERT OR REPLACE INTO asgiway_rooms (room, connection_id, expires_at) VALUES (?, ?, ?)"


def test_a_sqlite_file_of_the_previous_version_keeps_working(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    expires_at = time.time() + 3600
    with sqlite3.connect(path) as old:
        old.executescript(OLD_SQLITE_SCHEMA)
        for connection_id in ("a", "b"):
            old.execute(OLD_SQLITE_SAVE, (connection_id, '{"path":"/ws"}', '{"n":1}', expires_at))
            old.execute(OLD_SQLITE_JOIN, ("lobby", connection_id, expires_at))
    old.close()
    # Two processes of the new version open it at once: one adds the column, the other finds it.
    backends = [from_dsn(f"sqlite://{path}") for _ in range(2)]
    try:
        race(*(backend.connections for backend in backends))
        backend = backends[0]
        assert loaded(backend, "a") == ConnectionRecord("a", {"path": "/ws"}, {"n": 1}, expires_at)
        assert sorted(backend.members("lobby")) == ["a", "b"]
        assert backend.end("a", GONE) is True
        assert backend.members("lobby") == ["b"]
        assert loaded(backends[1], "a").ended == "gone"
        # A container still on the previous version writes without naming the column: live rows.
        with sqlite3.connect(path) as old:
            old.execute(OLD_SQLITE_SAVE, ("c", '{"path":"/ws"}', '{"n":1}', expires_at))
            old.execute(OLD_SQLITE_JOIN, ("lobby", "c", expires_at))
        old.close()
        assert sorted(backend.members("lobby")) == ["b", "c"]
        assert sorted(backend.connections()) == ["b", "c"]
    finally:
        for each in backends:
            each.close()
    with sqlite3.connect(path) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(asgiway_connections)")]
    db.close()
    assert columns == ["connection_id", "scope", "state", "expires_at", "ended"]


#: The PostgreSQL tables as the version before `ended` created them (asgiway_rooms_expiry included).
OLD_POSTGRESQL_SCHEMA = """
CREATE TABLE asgiway_connections (connection_id TEXT COLLATE "C" PRIMARY KEY, scope TEXT NOT NULL,
    state TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL);
CREATE INDEX asgiway_connections_expiry ON asgiway_connections (expires_at);
CREATE TABLE asgiway_rooms (room TEXT COLLATE "C" NOT NULL, connection_id TEXT COLLATE "C" NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (room, connection_id));
CREATE INDEX asgiway_rooms_connection ON asgiway_rooms (connection_id);
CREATE INDEX asgiway_rooms_expiry ON asgiway_rooms (expires_at);
"""
#: What that version sent to save a record (with its sweep), join a room and delete a connection.
OLD_POSTGRESQL_SAVE = """
DELETE FROM asgiway_rooms WHERE expires_at <= %(now)s OR connection_id = ANY(ARRAY(
    SELECT connection_id FROM asgiway_connections WHERE expires_at <= %(now)s));
DELETE FROM asgiway_connections WHERE expires_at <= %(now)s;
INSERT INTO asgiway_connections (connection_id, scope, state, expires_at)
VALUES (%(id)s, '{}', '{}', %(expires_at)s)
ON CONFLICT (connection_id) DO UPDATE
SET scope = EXCLUDED.scope, state = EXCLUDED.state, expires_at = EXCLUDED.expires_at
"""
OLD_POSTGRESQL_JOIN = """
INSERT INTO asgiway_rooms (room, connection_id, expires_at) VALUES ('lobby', %(id)s, %(expires_at)s)
ON CONFLICT (room, connection_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
"""
OLD_POSTGRESQL_DELETE = """
DELETE FROM asgiway_rooms WHERE connection_id = %(id)s;
DELETE FROM asgiway_connections WHERE connection_id = %(id)s;
"""


def test_a_postgresql_schema_of_the_previous_version_keeps_working(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The new version's containers start while the previous version's keep writing to both tables."""
    require(listening(POSTGRES_HOST, POSTGRES_PORT), f"PostgreSQL on {POSTGRES_HOST}:{POSTGRES_PORT}")
    import psycopg2

    token = uuid.uuid4().hex[:12]
    dsn = stores.postgresql_dsn(tmp_path, token, request)
    old = psycopg2.connect(postgres_dsn(f"t_{token}"))
    old.autocommit = True
    backends: list[Backend] = []
    try:
        expires_at = time.time() + 3600
        with old.cursor() as cursor:
            cursor.execute(OLD_POSTGRESQL_SCHEMA)
            for connection_id in ("a", "b"):
                params = {"id": connection_id, "expires_at": expires_at, "now": time.time()}
                cursor.execute(OLD_POSTGRESQL_SAVE, params)
                cursor.execute(OLD_POSTGRESQL_JOIN, params)
        stop = threading.Event()
        writing = [threading.Event() for _ in range(3)]
        writer_errors: list[BaseException] = []

        def old_version_writes(number: int) -> None:
            connection = None
            try:
                connection = psycopg2.connect(postgres_dsn(f"t_{token}"))
                connection.autocommit = True
                with connection.cursor() as cursor:
                    i = 0
                    while not stop.is_set():
                        params = {"id": f"old{number}-{i}", "expires_at": expires_at, "now": time.time()}
                        cursor.execute(OLD_POSTGRESQL_SAVE, params)
                        cursor.execute(OLD_POSTGRESQL_JOIN, params)
                        if i % 2:
                            cursor.execute(OLD_POSTGRESQL_DELETE, params)
                        writing[number].set()
                        i += 1
            except BaseException as exc:
                writer_errors.append(exc)
            finally:
                writing[number].set()
                if connection is not None:
                    connection.close()

        writers = [threading.Thread(target=old_version_writes, args=(n,), daemon=True) for n in range(3)]
        for writer in writers:
            writer.start()
        try:
            for started in writing:
                assert started.wait(STALL_SECONDS)
            backends = [from_dsn(dsn) for _ in range(4)]
            race(*(lambda b=backend, n=n: b.save(record(f"new{n}")) for n, backend in enumerate(backends)))
        finally:
            stop.set()
            for writer in writers:
                writer.join(STALL_SECONDS)
        assert writer_errors == []
        backend = backends[0]
        assert loaded(backend, "a") == ConnectionRecord("a", {}, {}, expires_at)
        assert {"a", "b", "new0", "new3", "old0-0"} <= set(backend.members("lobby")) | set(
            backend.connections()
        )
        assert backend.end("a", GONE) is True
        assert "a" not in backend.members("lobby")
        assert "a" not in backend.connections()
        assert loaded(backends[1], "a").ended == "gone"
        # The previous version's save of an ended record leaves it ended (it never names the column).
        with old.cursor() as cursor:
            cursor.execute(OLD_POSTGRESQL_SAVE, {"id": "a", "expires_at": expires_at, "now": time.time()})
            cursor.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = 'asgiway_connections' ORDER BY ordinal_position",
                (f"t_{token}",),
            )
            columns = [name for (name,) in cursor.fetchall()]
        assert loaded(backend, "a").ended == "gone"
        assert columns == ["connection_id", "scope", "state", "expires_at", "ended"]
    finally:
        for each in backends:
            each.close()
        old.close()
        stores.drop_postgresql_schema(token)


# Who implements end()


def test_the_built_in_stores_end_natively_and_others_inherit_the_default() -> None:
    """A backend class written before `end` existed still instantiates: `end` is not abstract."""
    from asgiway.backends.dynamodb import DynamoDBBackend
    from asgiway.backends.postgresql import PostgreSQLBackend
    from asgiway.backends.redis import RedisBackend
    from asgiway.backends.s3 import S3Backend
    from asgiway.backends.sqlite import SQLiteBackend

    assert "end" not in Backend.__abstractmethods__
    assert ThirdPartyBackend.end is Backend.end
    for builtin in (SQLiteBackend, PostgreSQLBackend, RedisBackend, DynamoDBBackend, S3Backend):
        assert builtin.end is not Backend.end, builtin
