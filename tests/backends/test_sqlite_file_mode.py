"""The sqlite store's file, and every journal SQLite writes beside it, is its owner's alone
(issue 15, finding 3: it was created world-readable, 0644 under the usual umask)."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from asgiway.backends import ConnectionRecord
from asgiway.backends.sqlite import SQLiteBackend

OWNER_ONLY = 0o600


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def modes(directory: Path) -> dict[str, int]:
    return {path.name: stat.S_IMODE(path.stat().st_mode) for path in directory.iterdir()}


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o000], ids=["umask-022", "umask-002", "umask-000"])
def test_the_file_and_its_wal_and_shm_are_created_0600(tmp_path: Path, mask: int) -> None:
    with umask(mask):
        backend = SQLiteBackend(str(tmp_path / "chat.db"))
        backend.save(ConnectionRecord("a=", {"path": "/ws"}))
        backend.join("a=", "lobby")
        # While the connection is open, WAL mode keeps the -wal and -shm files beside the database.
        assert modes(tmp_path) == {
            "chat.db": OWNER_ONLY,
            "chat.db-wal": OWNER_ONLY,
            "chat.db-shm": OWNER_ONLY,
        }
        backend.close()


def test_a_rollback_journal_beside_the_file_is_0600_too(tmp_path: Path) -> None:
    """The store runs in WAL mode; a tool that opens its file in a rollback mode makes a -journal,
    which SQLite creates with the database file's mode, whatever the umask."""
    path = tmp_path / "chat.db"
    with umask(0o022):
        backend = SQLiteBackend(str(path))
        backend.save(ConnectionRecord("a=", {"path": "/ws"}))
        backend.close()
        tool = sqlite3.connect(path, isolation_level=None)
        assert tool.execute("PRAGMA journal_mode=PERSIST").fetchone() == ("persist",)
        tool.execute("DELETE FROM asgiway_connections")  # PERSIST leaves the journal there after it
        tool.close()
    assert modes(tmp_path) == {"chat.db": OWNER_ONLY, "chat.db-journal": OWNER_ONLY}


def test_a_file_that_exists_keeps_its_mode(tmp_path: Path) -> None:
    """Only a file the store creates is made 0600: one made by its owner keeps what they chose."""
    path = tmp_path / "shared.db"
    path.touch()
    path.chmod(0o640)
    backend = SQLiteBackend(str(path))
    backend.save(ConnectionRecord("a=", {"path": "/ws"}))
    assert modes(tmp_path) == {"shared.db": 0o640, "shared.db-wal": 0o640, "shared.db-shm": 0o640}
    backend.close()
