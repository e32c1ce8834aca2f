"""What every backend must do, run against each one in `CASES`.

Adding a backend is one line in `CASES`: how to build it from a dsn, given a fresh temporary
directory and a unique token (for a table name, a key prefix or a database number) so that each
test sees an empty store; and the name of the method that creates its tables, if it has any.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from asgiway.backends import Backend, ConnectionRecord
from tests.docs.snippets import memory_store
from tests.support import stores


@dataclass(frozen=True)
class BackendCase:
    name: str
    #: Builds the backend from (a fresh temporary directory, a unique token, the test's request);
    #: the same arguments must reach the same store, as two Lambda containers would.
    make: Callable[[Path, str, pytest.FixtureRequest], Backend]
    #: The method that creates the store's tables once, counted by `test_tables_are_created_once`.
    create_tables: str | None = None
    #: Removes what the test left in a shared server, given the token.
    clean: Callable[[str], None] | None = None
    #: Rounds per thread in `test_concurrent_use_from_several_threads`. On moto every call is an
    #: HTTP request to one Python process holding the GIL, so 250 rounds cost 80 s there
    #: while adding no interleaving that 60 rounds (about 2,000 calls from 8 threads at once) lack.
    threaded_rounds: int = 250


CASES = [
    BackendCase("sqlite", stores.sqlite, "_create_tables"),
    BackendCase("postgresql", stores.postgresql, "_create_tables", stores.drop_postgresql_schema),
    BackendCase("redis", stores.redis, clean=stores.drop_redis_keys),
    BackendCase("dynamodb", stores.dynamodb, threaded_rounds=60),
    BackendCase("s3", stores.s3, threaded_rounds=60),
    BackendCase("memory", memory_store),  # the stores guide's own store (docs/snippets/own_store.py)
]


@pytest.fixture(params=CASES, ids=[case.name for case in CASES])
def case(request: pytest.FixtureRequest) -> BackendCase:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def token() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture
def make(
    case: BackendCase, tmp_path: Path, token: str, request: pytest.FixtureRequest
) -> Iterator[Callable[[], Backend]]:
    """Builds backends on this test's store, closing them all and cleaning up at the end."""
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


def record(connection_id: str, *, expires_in: float = 3600.0, **state: Any) -> ConnectionRecord:
    scope = {"type": "websocket", "path": "/ws", "headers": [["host", "example.com"]]}
    return ConnectionRecord(connection_id, scope, state, time.time() + expires_in)


TRICKY = [
    "Aa0=",
    "a+b/c==",
    "slash/../..",
    "..",
    "*",
    "{}",
    "{id}",
    "%41%",
    "quote'double\"back`",
    "back\\slash",
    "space and\ttab",
    "'; DROP TABLE asgiway_connections; --",
    '" OR 1=1 --',
    "ünïcødé ✓ 中文 🎉",
    "a" * 300,
]


# Records


def test_save_then_load(backend: Backend) -> None:
    saved = record("conn-1", user="ada")
    backend.save(saved)
    loaded = backend.load("conn-1")
    assert loaded is not None
    assert loaded.connection_id == "conn-1"
    assert loaded.scope == saved.scope
    assert loaded.state == {"user": "ada"}
    assert loaded.expires_at == pytest.approx(saved.expires_at)


def test_load_of_an_unknown_id(backend: Backend) -> None:
    assert backend.load("nobody") is None


def test_save_replaces(backend: Backend) -> None:
    backend.save(record("conn-1", count=1))
    backend.save(record("conn-1", count=2))
    loaded = backend.load("conn-1")
    assert loaded is not None
    assert loaded.state == {"count": 2}
    assert backend.connections() == ["conn-1"]


def test_update_replaces_a_live_record_and_keeps_its_rooms(backend: Backend) -> None:
    backend.save(record("conn-1", count=1))
    backend.join("conn-1", "lobby")
    assert backend.update(record("conn-1", count=2)) is True
    loaded = backend.load("conn-1")
    assert loaded is not None
    assert loaded.state == {"count": 2}
    assert backend.members("lobby") == ["conn-1"]


def test_update_never_brings_a_connection_back(backend: Backend) -> None:
    """A MESSAGE ending after a DISCONNECT (in another container) deleted its connection."""
    assert backend.update(record("never-saved")) is False
    backend.save(record("gone"))
    backend.join("gone", "lobby")
    backend.delete("gone")
    assert backend.update(record("gone", count=3)) is False
    backend.save(record("expired", expires_in=-1))
    assert backend.update(record("expired")) is False
    for connection_id in ("never-saved", "gone", "expired"):
        assert backend.load(connection_id) is None
    assert backend.connections() == []
    assert backend.members("lobby") == []


@pytest.mark.parametrize("expires_at", [0.0, -5.0, float("inf"), float("nan"), 1e12])
def test_records_need_a_real_expiry(expires_at: float) -> None:
    with pytest.raises(ValueError, match="expires_at must be a Unix time"):
        ConnectionRecord("c", {}, {}, expires_at)


def test_delete_is_idempotent(backend: Backend) -> None:
    backend.save(record("conn-1"))
    backend.save(record("conn-2"))
    backend.delete("conn-1")
    backend.delete("conn-1")
    backend.delete("never-saved")
    assert backend.load("conn-1") is None
    assert backend.connections() == ["conn-2"]


def test_connections(backend: Backend) -> None:
    assert backend.connections() == []
    for connection_id in ("a", "b", "c"):
        backend.save(record(connection_id))
    assert sorted(backend.connections()) == ["a", "b", "c"]


def test_large_scope_and_unicode_round_trip(backend: Backend) -> None:
    headers = [[f"x-header-{i}", "v" * 200] for i in range(100)]
    scope = {
        "type": "websocket",
        "headers": headers,
        "query_string": "q=ünïcødé&emoji=🎉",
        "nested": {"list": [1, 2.5, True, None, "中文"], "empty": {}},
    }
    saved = ConnectionRecord("big", scope, {"name": "Zoë 🚀", "n": 10**15})
    assert len(str(scope)) > 20_000
    backend.save(saved)
    loaded = backend.load("big")
    assert loaded is not None
    assert loaded.scope == scope
    assert loaded.state == {"name": "Zoë 🚀", "n": 10**15}


def test_a_new_backend_on_the_same_dsn_sees_the_data(make: Callable[[], Backend]) -> None:
    first = make()
    first.save(record("conn-1", user="ada"))
    first.join("conn-1", "lobby")
    second = make()
    loaded = second.load("conn-1")
    assert loaded is not None
    assert loaded.state == {"user": "ada"}
    assert second.members("lobby") == ["conn-1"]


# Expiry


def test_an_expired_record_is_invisible(backend: Backend) -> None:
    backend.save(record("old", expires_in=-1))
    backend.save(record("live"))
    backend.join("old", "lobby")
    backend.join("live", "lobby")
    assert backend.load("old") is None
    assert backend.connections() == ["live"]
    assert backend.members("lobby") == ["live"]
    assert backend.rooms("old") == []


def test_a_record_disappears_when_it_expires(backend: Backend) -> None:
    backend.connections()  # connect and set up first, so the short lifetime below is all the store's
    # Two seconds to live, for the save, join and load that must come before the expiry: they
    # take a fraction of that even on the slowest store (S3 on moto) on a loaded runner.
    soon = record("soon", expires_in=2.0)
    backend.save(soon)
    backend.join("soon", "lobby")
    assert backend.load("soon") is not None
    time.sleep(max(0.0, soon.expires_at - time.time()) + 0.1)  # the stores compare with this clock
    assert backend.load("soon") is None
    assert backend.members("lobby") == []
    assert backend.connections() == []


def test_saving_again_revives_an_expired_id(backend: Backend) -> None:
    backend.save(record("conn-1", expires_in=-1))
    backend.save(record("conn-1", expires_in=60))
    assert backend.load("conn-1") is not None


# Rooms


def test_join_members_rooms(backend: Backend) -> None:
    for connection_id in ("a", "b", "c"):
        backend.save(record(connection_id))
    backend.join("a", "lobby")
    backend.join("b", "lobby")
    backend.join("a", "games")
    assert sorted(backend.members("lobby")) == ["a", "b"]
    assert backend.members("games") == ["a"]
    assert backend.members("empty") == []
    assert sorted(backend.rooms("a")) == ["games", "lobby"]
    assert backend.rooms("c") == []


def test_join_and_leave_are_idempotent(backend: Backend) -> None:
    backend.save(record("a"))
    backend.join("a", "lobby")
    backend.join("a", "lobby")
    assert backend.members("lobby") == ["a"]
    assert backend.rooms("a") == ["lobby"]
    backend.leave("a", "lobby")
    backend.leave("a", "lobby")
    backend.leave("a", "never-joined")
    backend.leave("nobody", "lobby")
    assert backend.members("lobby") == []
    assert backend.rooms("a") == []


def test_saving_again_keeps_memberships(backend: Backend) -> None:
    backend.save(record("a", count=1))
    backend.join("a", "lobby")
    backend.save(record("a", count=2))
    assert backend.members("lobby") == ["a"]


def test_join_before_save_shows_once_saved(backend: Backend) -> None:
    backend.join("a", "lobby")
    assert backend.members("lobby") == []
    backend.save(record("a"))
    assert backend.members("lobby") == ["a"]


def test_delete_removes_memberships(backend: Backend) -> None:
    backend.save(record("a"))
    backend.save(record("b"))
    backend.join("a", "lobby")
    backend.join("a", "games")
    backend.join("b", "lobby")
    backend.delete("a")
    assert backend.members("lobby") == ["b"]
    assert backend.members("games") == []
    # Saved again (an id reused), the connection starts with no room at all.
    backend.save(record("a"))
    assert backend.rooms("a") == []
    assert backend.members("games") == []


@pytest.mark.parametrize("tricky", TRICKY, ids=range(len(TRICKY)))
def test_tricky_ids_and_room_names_round_trip(backend: Backend, tricky: str) -> None:
    backend.save(record(tricky, value=tricky))
    backend.save(record("plain"))
    backend.join(tricky, tricky)
    backend.join("plain", tricky)
    backend.join(tricky, "lobby")
    loaded = backend.load(tricky)
    assert loaded is not None
    assert loaded.connection_id == tricky
    assert loaded.state == {"value": tricky}
    assert sorted(backend.connections()) == sorted([tricky, "plain"])
    assert sorted(backend.members(tricky)) == sorted([tricky, "plain"])
    assert sorted(backend.rooms(tricky)) == sorted([tricky, "lobby"])
    backend.leave(tricky, tricky)
    assert backend.members(tricky) == ["plain"]
    backend.delete(tricky)
    assert backend.load(tricky) is None
    assert backend.connections() == ["plain"]


def test_ids_that_differ_only_in_case_or_escaping_stay_apart(backend: Backend) -> None:
    ids = ["abc", "ABC", "a%62c", "a b", "a+b", "a%20b"]
    for connection_id in ids:
        backend.save(record(connection_id, id=connection_id))
        backend.join(connection_id, connection_id.upper())
    for connection_id in ids:
        loaded = backend.load(connection_id)
        assert loaded is not None
        assert loaded.state == {"id": connection_id}
    assert sorted(backend.connections()) == sorted(ids)
    assert sorted(backend.members("ABC")) == ["ABC", "abc"]


# Use from several threads


#: How long the threads may go without finishing a round of operations between them before the
#: test calls it a deadlock. A round takes milliseconds, a few tenths of a second on a loaded
#: runner and the slowest store (S3 on moto); a full minute without one is no slowness.
STALL_SECONDS = 60.0


class Progress:
    """Rounds finished and threads ended, for a watcher that waits for any of either."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._changes = 0
        self._ended = 0

    def round_done(self) -> None:
        with self._changed:
            self._changes += 1
            self._changed.notify_all()

    def thread_ended(self) -> None:
        with self._changed:
            self._changes += 1
            self._ended += 1
            self._changed.notify_all()

    def wait_for_threads(self, count: int, stall: float) -> bool:
        """True once `count` threads have ended; False as soon as `stall` seconds pass in which
        no thread finished a round or ended."""
        with self._changed:
            while self._ended < count:
                changes = self._changes
                if not self._changed.wait(stall) and self._changes == changes:
                    return False
            return True


def test_concurrent_use_from_several_threads(case: BackendCase, backend: Backend) -> None:
    """8 threads × 250 rounds each (60 on moto, see BackendCase) of save, load, join, and a delete
    for every fifth.

    A deadlock shows as no round finishing in any thread for STALL_SECONDS, however long the
    whole takes on a slow store. On a failure the threads stop before their next round; they are
    daemons, so one stuck in the store cannot hold the test run open either.
    """
    threads_count, rounds = 8, case.threaded_rounds
    errors: list[BaseException] = []
    start = threading.Barrier(threads_count)
    stop = threading.Event()
    progress = Progress()

    def work(thread: int) -> None:
        try:
            start.wait()
            for i in range(rounds):
                if stop.is_set():
                    return
                connection_id = f"t{thread}-{i}"
                backend.save(record(connection_id, i=i))
                loaded = backend.load(connection_id)
                assert loaded is not None
                assert loaded.state == {"i": i}
                backend.join(connection_id, f"room-{thread % 2}")
                if i % 5 == 0:
                    backend.delete(connection_id)
                progress.round_done()
        except BaseException as exc:
            errors.append(exc)
            stop.set()  # the test has failed: the other threads need not go on
        finally:
            progress.thread_ended()

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    finished = progress.wait_for_threads(threads_count, STALL_SECONDS)
    stop.set()  # a no-op once all have ended; after a stall, the threads still able to stop do
    assert finished, f"no thread finished a round for {STALL_SECONDS:g} s: a deadlock"
    assert errors == []
    kept = {f"t{thread}-{i}" for thread in range(threads_count) for i in range(rounds) if i % 5}
    listed = backend.connections()
    assert len(listed) == len(set(listed)) == len(kept)
    assert set(listed) == kept
    for room in ("room-0", "room-1"):
        members = backend.members(room)
        assert len(members) == len(set(members))
        assert set(members) == {c for c in kept if int(c[1 : c.index("-")]) % 2 == int(room[-1])}


TABLE_CASES = [case for case in CASES if case.create_tables is not None]


@pytest.mark.parametrize("case", TABLE_CASES, ids=[case.name for case in TABLE_CASES])
def test_tables_are_created_once(case: BackendCase, make: Callable[[], Backend]) -> None:
    backend = make()
    assert case.create_tables is not None
    create_tables = getattr(backend, case.create_tables)
    calls: list[None] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(None)
        return create_tables(*args, **kwargs)

    setattr(backend, case.create_tables, counted)
    for i in range(20):
        backend.save(record(f"c{i}"))
        backend.load(f"c{i}")
        backend.join(f"c{i}", "lobby")
        backend.members("lobby")
        backend.rooms(f"c{i}")
        backend.connections()
        backend.leave(f"c{i}", "lobby")
        backend.delete(f"c{i}")
    assert len(calls) == 1


def test_describe_names_the_store(backend: Backend) -> None:
    description = backend.describe()
    assert description
    assert repr(backend) == f"{type(backend).__name__}({description})"


def test_close_then_use_again(backend: Backend) -> None:
    backend.save(record("a"))
    backend.close()
    backend.close()
    assert backend.load("a") is not None
