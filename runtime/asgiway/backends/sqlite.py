"""The embedded default store: one SQLite file, through the standard library's sqlite3.

It is the store of the local emulator and of tests, and of a Lambda function whose connections all
live in one container (a file under /tmp, the only writable place on Lambda). It does not share
anything between Lambda containers: deployed apps with more than one container use a network store.

The file is the owner's alone: created with mode 0600 whatever the umask, since its records may
hold what the app keeps per connection and, with `stored_credentials`, handshake credentials.
SQLite gives the journal files it creates beside it (`-wal`, `-shm`, `-journal`) the database
file's own mode. A file that already exists keeps the mode it has.

Expired rows are purged on a schedule that needs no write: `save` and every read (`load`,
`members`, `rooms`, `connections`) first check whether a purge is due, and run one at most once
per `sweep_interval` seconds. Every event makes one of these calls (CONNECT saves, the others
load), so the calls that change one connection's rows need not check too. A background thread
would be no schedule on Lambda, which freezes a container between events: the first event after
a thaw purges what expired meanwhile. The due time is on the wall clock, which counts the time a
container spent frozen; the monotonic clock need not. A store no call reaches keeps its expired
rows, unseen by any read, until its next use.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from asgiway.backends.base import (
    RECORD_LIFETIME_SECONDS,
    Backend,
    ConnectionRecord,
    check_reason,
    dump_json,
)
from asgiway.backends.dsn import Dsn
from asgiway.exceptions import BackendError, ConfigurationError

MEMORY = ":memory:"

# `ended` is NULL while the connection is live, else why it ended ('gone', 'closed').
_SCHEMA = """
CREATE TABLE IF NOT EXISTS asgiway_connections (
    connection_id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    state TEXT NOT NULL,
    expires_at REAL NOT NULL,
    ended TEXT
);
CREATE INDEX IF NOT EXISTS asgiway_connections_expiry ON asgiway_connections (expires_at);
CREATE TABLE IF NOT EXISTS asgiway_rooms (
    room TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (room, connection_id)
);
CREATE INDEX IF NOT EXISTS asgiway_rooms_connection ON asgiway_rooms (connection_id);
"""
#: Brings a table made before `ended` existed up to date. SQLite adds a column without a default
#: by changing the schema alone, rewriting no row: every existing record reads NULL, live.
_ADD_ENDED = "ALTER TABLE asgiway_connections ADD COLUMN ended TEXT"


class SQLiteBackend(Backend):
    """Connection records and room memberships in two tables of one SQLite file.

    Threads share one sqlite3 connection behind a lock rather than holding one connection each:
    every statement takes microseconds and SQLite lets one writer in at a time anyway, so the lock
    costs nothing, while one connection means `close()` really closes, tables are created once per
    backend, and `sqlite://:memory:` is one database for every thread. Other processes (several
    emulator workers, say) share the file through WAL mode and the busy timeout.

    `sqlite://:memory:` is private to this backend object: fine for tests, useless on Lambda.

    Expired rows are invisible to every read, and deleted by a sweep that `save` or a read runs
    when one is due (see the module docstring), at most once per `sweep_interval` seconds, cheaply,
    through an index on the expiry. A membership expires with its connection, and on its own after
    the record lifetime (for a `join` whose connection was never saved).

    An ended connection's row keeps its reason in the `ended` column (NULL while live): `members`,
    `rooms` and `connections` leave such rows out, `end` removes the memberships in the same
    transaction that sets the column, and `update` keeps a reason the row holds (COALESCE). A
    file made before the column existed gets it when first opened (see `_create_tables`).
    """

    schemes = ("sqlite",)

    def __init__(self, path: str, *, timeout: float = 5.0, sweep_interval: float = 60.0) -> None:
        """`path` is the file (relative paths are resolved now); `timeout` is SQLite's busy timeout,
        how long a write waits for another process's lock before failing, in seconds."""
        self.path = path if path == MEMORY else os.path.abspath(path)
        self.timeout = timeout
        self.sweep_interval = sweep_interval
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._next_sweep = 0.0

    @classmethod
    def from_dsn(cls, dsn: Dsn) -> SQLiteBackend:
        if dsn.database is None:  # only a Dsn built by hand, not by Dsn.parse
            raise ConfigurationError(f"dsn {dsn.redacted!r} names no sqlite file")
        return cls(dsn.database)

    def describe(self) -> str:
        return "sqlite in-memory database" if self.path == MEMORY else f"sqlite file {self.path}"

    def save(self, record: ConnectionRecord) -> None:
        self.check_names(connection_id=record.connection_id)
        scope, state = dump_json(record.scope), dump_json(record.state)
        with self._transaction(sweep=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO asgiway_connections (connection_id, scope, state, expires_at, ended)"
                " VALUES (?, ?, ?, ?, ?)",
                (record.connection_id, scope, state, record.expires_at, record.ended),
            )

    def update(self, record: ConnectionRecord) -> bool:
        self.check_names(connection_id=record.connection_id)
        scope, state = dump_json(record.scope), dump_json(record.state)
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE asgiway_connections SET scope = ?, state = ?, expires_at = ?,"
                " ended = COALESCE(ended, ?) WHERE connection_id = ? AND expires_at > ?",
                (scope, state, record.expires_at, record.ended, record.connection_id, time.time()),
            )
            return cursor.rowcount == 1

    def load(self, connection_id: str) -> ConnectionRecord | None:
        with self._use(sweep=True) as db:
            row = db.execute(
                "SELECT scope, state, expires_at, ended FROM asgiway_connections"
                " WHERE connection_id = ? AND expires_at > ?",
                (connection_id, time.time()),
            ).fetchone()
        if row is None:
            return None
        scope, state, expires_at, ended = row
        return ConnectionRecord.from_columns(connection_id, scope, state, expires_at, ended)

    def end(self, connection_id: str, reason: str) -> bool:
        check_reason(reason)
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE asgiway_connections SET ended = COALESCE(ended, ?)"
                " WHERE connection_id = ? AND expires_at > ?",
                (reason, connection_id, time.time()),
            )
            if cursor.rowcount != 1:
                return False
            db.execute("DELETE FROM asgiway_rooms WHERE connection_id = ?", (connection_id,))
        return True

    def delete(self, connection_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM asgiway_rooms WHERE connection_id = ?", (connection_id,))
            db.execute("DELETE FROM asgiway_connections WHERE connection_id = ?", (connection_id,))

    def join(self, connection_id: str, room: str) -> None:
        self.check_names(connection_id=connection_id, room_name=room)
        with self._use() as db:
            db.execute(
                "INSERT OR REPLACE INTO asgiway_rooms (room, connection_id, expires_at) VALUES (?, ?, ?)",
                (room, connection_id, time.time() + RECORD_LIFETIME_SECONDS),
            )

    def leave(self, connection_id: str, room: str) -> None:
        with self._use() as db:
            db.execute(
                "DELETE FROM asgiway_rooms WHERE room = ? AND connection_id = ?",
                (room, connection_id),
            )

    def members(self, room: str) -> list[str]:
        now = time.time()
        with self._use(sweep=True) as db:
            rows = db.execute(
                "SELECT r.connection_id FROM asgiway_rooms r JOIN asgiway_connections c"
                " ON c.connection_id = r.connection_id"
                " WHERE r.room = ? AND r.expires_at > ? AND c.expires_at > ? AND c.ended IS NULL",
                (room, now, now),
            ).fetchall()
        return [connection_id for (connection_id,) in rows]

    def rooms(self, connection_id: str) -> list[str]:
        now = time.time()
        with self._use(sweep=True) as db:
            rows = db.execute(
                "SELECT r.room FROM asgiway_rooms r JOIN asgiway_connections c"
                " ON c.connection_id = r.connection_id"
                " WHERE r.connection_id = ? AND r.expires_at > ? AND c.expires_at > ? AND c.ended IS NULL",
                (connection_id, now, now),
            ).fetchall()
        return [room for (room,) in rows]

    def connections(self) -> list[str]:
        with self._use(sweep=True) as db:
            rows = db.execute(
                "SELECT connection_id FROM asgiway_connections WHERE expires_at > ? AND ended IS NULL",
                (time.time(),),
            ).fetchall()
        return [connection_id for (connection_id,) in rows]

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @contextmanager
    def _use(self, *, sweep: bool = False) -> Iterator[sqlite3.Connection]:
        """The connection, held under the lock, with sqlite3's errors turned into BackendError;
        with `sweep`, swept first when a sweep is due."""
        with self._lock:
            try:
                db = self._connect()
                if sweep and time.time() >= self._next_sweep:
                    self._sweep(db)
                yield db
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    @contextmanager
    def _transaction(self, *, sweep: bool = False) -> Iterator[sqlite3.Connection]:
        """`_use` inside one transaction, for writes made of several statements."""
        with self._use(sweep=sweep) as db:
            # IMMEDIATE takes the write lock up front, where the busy timeout applies; a deferred
            # transaction that upgrades its lock later fails at once with "database is locked".
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            db.commit()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None:
            return self._connection
        directory = os.path.dirname(self.path)
        if self.path != MEMORY and not os.path.isdir(directory):
            raise BackendError(f"{self.describe()}: the directory {directory} does not exist")
        try:
            if self.path != MEMORY:
                _create_owner_only(self.path)
            # Autocommit (isolation_level=None): single statements commit alone, and the
            # multi-statement writes open their own transaction.
            connection = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
        except (sqlite3.Error, OSError) as exc:
            raise BackendError(
                f"{self.describe()}: cannot open it ({exc}); the file and its directory must be"
                " writable (on AWS Lambda, only /tmp is)"
            ) from exc
        try:
            # WAL lets readers in other processes work while one writes; with WAL, synchronous=NORMAL
            # cannot corrupt the file and at worst loses the last writes on a power cut, which is
            # fine for records that live two hours.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._create_tables(connection)
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _create_tables(self, connection: sqlite3.Connection) -> None:
        """Create the tables, or add what a file made by an earlier version lacks (`ended`).

        One write transaction: two processes opening such a file at once then take turns, and
        the second finds the column there instead of failing with "duplicate column name".
        """
        # executescript leaves open the transaction its script begins, for the check below.
        connection.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}")
        columns = {row[1] for row in connection.execute("PRAGMA table_info(asgiway_connections)")}
        if "ended" not in columns:
            connection.execute(_ADD_ENDED)
        connection.execute("COMMIT")

    def _sweep(self, db: sqlite3.Connection) -> None:
        """Delete expired rows, in a transaction of their own, before the call that found it due."""
        now = time.time()
        # Set before running: a sweep that fails waits for the next interval, not the next call.
        self._next_sweep = now + self.sweep_interval
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "DELETE FROM asgiway_rooms WHERE expires_at <= ? OR connection_id IN"
                " (SELECT connection_id FROM asgiway_connections WHERE expires_at <= ?)",
                (now, now),
            )
            db.execute("DELETE FROM asgiway_connections WHERE expires_at <= ?", (now,))
        except BaseException:
            db.rollback()
            raise
        db.commit()

    def _error(self, exc: sqlite3.Error) -> BackendError:
        """The BackendError for `exc`; drops the connection unless the error was only contention."""
        # Errors raised by the sqlite3 module itself, not by SQLite, carry no error name.
        if getattr(exc, "sqlite_errorname", None) in ("SQLITE_BUSY", "SQLITE_LOCKED"):
            return BackendError(
                f"{self.describe()}: {exc} (another connection held it longer than the"
                f" {self.timeout:g} s busy timeout)"
            )
        # Anything else (a disk error, a file replaced under us) may have broken the connection:
        # the next call opens a new one.
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        return BackendError(f"{self.describe()}: {exc}")


def _create_owner_only(path: str) -> None:
    """Create `path` empty, with mode 0600, unless it exists: SQLite takes an empty file for a new
    database, and gives the journal files it creates beside it the database file's mode."""
    try:
        # O_EXCL: only a file this call creates is changed, never one another process made first.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(descriptor)
    # Exactly 0600: the umask may have taken bits away from the mode asked for.
    os.chmod(path, 0o600)
