"""What is particular to the SQLite backend: the file, WAL, errors, sweeping, :memory:."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from asgiway.backends import ConnectionRecord, from_dsn
from asgiway.backends.sqlite import SQLiteBackend
from asgiway.exceptions import BackendError


def record(connection_id: str, expires_in: float = 3600.0) -> ConnectionRecord:
    return ConnectionRecord(connection_id, {"type": "websocket"}, {"n": 1}, time.time() + expires_in)


def raw(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql).fetchall()


def test_from_dsn_resolves_a_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    backend = from_dsn("sqlite://data/chat.db")
    assert backend.describe() == f"sqlite file {tmp_path}/data/chat.db"
    monkeypatch.chdir("/")
    (tmp_path / "data").mkdir()
    backend.save(record("a"))
    assert (tmp_path / "data" / "chat.db").exists()
    backend.close()


def test_nothing_touches_the_file_before_first_use(tmp_path: Path) -> None:
    backend = from_dsn(f"sqlite://{tmp_path}/chat.db")
    assert not (tmp_path / "chat.db").exists()
    assert backend.connections() == []
    assert (tmp_path / "chat.db").exists()
    backend.close()


def test_wal_mode(tmp_path: Path) -> None:
    backend = SQLiteBackend(str(tmp_path / "chat.db"))
    backend.save(record("a"))
    assert raw(tmp_path / "chat.db", "PRAGMA journal_mode") == [("wal",)]
    backend.close()


def test_scope_and_state_are_json_text(tmp_path: Path) -> None:
    backend = SQLiteBackend(str(tmp_path / "chat.db"))
    backend.save(ConnectionRecord("a", {"path": "/ws", "ü": [1]}, {"name": "Zoë"}))
    backend.close()
    ((scope, state),) = raw(tmp_path / "chat.db", "SELECT scope, state FROM asgiway_connections")
    assert isinstance(scope, str)
    assert json.loads(scope) == {"path": "/ws", "ü": [1]}
    assert json.loads(str(state)) == {"name": "Zoë"}


def test_state_must_be_strict_json(tmp_path: Path) -> None:
    backend = SQLiteBackend(str(tmp_path / "chat.db"))
    with pytest.raises(ValueError, match="not JSON compliant"):
        backend.save(ConnectionRecord("a", {}, {"x": float("nan")}))
    backend.close()


def test_ended_rows_are_swept_when_they_expire(tmp_path: Path) -> None:
    backend = SQLiteBackend(str(tmp_path / "chat.db"), sweep_interval=0)
    backend.save(record("gone", expires_in=0.2))
    backend.join("gone", "lobby")
    assert backend.end("gone", "gone") is True
    backend.join("gone", "games")  # after the end: invisible, and swept with its record
    assert raw(tmp_path / "chat.db", "SELECT ended FROM asgiway_connections") == [("gone",)]
    time.sleep(0.3)
    backend.save(record("new"))
    assert raw(tmp_path / "chat.db", "SELECT connection_id FROM asgiway_connections") == [("new",)]
    assert raw(tmp_path / "chat.db", "SELECT connection_id FROM asgiway_rooms") == []
    backend.close()


def test_expired_rows_are_swept_on_save(tmp_path: Path) -> None:
    backend = SQLiteBackend(str(tmp_path / "chat.db"), sweep_interval=0)
    backend.save(record("old", expires_in=-1))
    backend.join("old", "lobby")
    backend.join("never-saved", "lobby")
    backend.save(record("new"))
    assert raw(tmp_path / "chat.db", "SELECT connection_id FROM asgiway_connections") == [("new",)]
    assert raw(tmp_path / "chat.db", "SELECT connection_id FROM asgiway_rooms") == [("never-saved",)]
    backend.close()


def test_sweeps_are_spaced_out(tmp_path: Path) -> None:
    backend = SQLiteBackend(str(tmp_path / "chat.db"), sweep_interval=3600)
    backend.save(record("first"))
    backend.save(record("old", expires_in=-1))
    backend.save(record("new"))
    # The first save swept; the next sweep is an hour away, so the expired row is still there.
    rows = raw(tmp_path / "chat.db", "SELECT count(*) FROM asgiway_connections")
    assert rows == [(3,)]
    assert sorted(backend.connections()) == ["first", "new"]
    backend.close()


def test_missing_directory_is_a_backend_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "chat.db"
    backend = from_dsn(f"sqlite://{path}")
    message = f"sqlite file {path}: the directory {path.parent} does not exist"
    with pytest.raises(BackendError, match=re.escape(message)):
        backend.load("a")


def test_unopenable_path_is_a_backend_error_naming_the_path(tmp_path: Path) -> None:
    backend = SQLiteBackend(str(tmp_path))  # a directory, not a file
    with pytest.raises(BackendError, match=re.escape(f"sqlite file {tmp_path}: cannot open it")) as caught:
        backend.save(record("a"))
    assert "only /tmp is" in str(caught.value)
    assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_a_lock_held_past_the_busy_timeout_is_a_backend_error(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    backend = SQLiteBackend(str(path), timeout=0.1)
    backend.save(record("a"))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(BackendError) as caught:
            backend.save(record("b"))
        assert time.monotonic() - started >= 0.1
    finally:
        other.execute("ROLLBACK")
        other.close()
    message = str(caught.value)
    assert message.startswith(f"sqlite file {path}: database is locked")
    assert "0.1 s busy timeout" in message
    # Contention does not break the connection: the next call works.
    backend.save(record("b"))
    assert sorted(backend.connections()) == ["a", "b"]
    backend.close()


def test_a_write_waits_for_a_lock_released_within_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    backend = SQLiteBackend(str(path), timeout=5)
    backend.save(record("a"))
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.2, lambda: other.execute("COMMIT"))
    releaser.start()
    backend.save(record("b"))
    releaser.join()
    other.close()
    assert sorted(backend.connections()) == ["a", "b"]
    backend.close()


def test_a_broken_connection_is_reopened(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    backend = SQLiteBackend(str(path))
    backend.save(record("a"))
    assert backend._connection is not None
    backend._connection.close()  # as if the driver had lost it
    message = f"sqlite file {path}: Cannot operate on a closed database"
    with pytest.raises(BackendError, match=re.escape(message)):
        backend.load("a")
    assert backend.load("a") is not None
    backend.close()


def test_memory_database_is_shared_by_threads() -> None:
    backend = from_dsn("sqlite://:memory:")
    assert backend.describe() == "sqlite in-memory database"
    backend.save(record("a"))
    seen: list[list[str]] = []
    thread = threading.Thread(target=lambda: seen.append(backend.connections()))
    thread.start()
    thread.join()
    assert seen == [["a"]]
    backend.close()
