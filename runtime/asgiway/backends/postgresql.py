"""A store shared by every Lambda container: two tables in a PostgreSQL database, through psycopg2.

The dsn is libpq's URI, handed to libpq as written, so everything libpq reads from it works:
several hosts, `sslmode`, `options=-csearch_path%3Dmyschema` to keep the tables in a schema of
their own, and the PG* environment variables for what the dsn leaves out.

Every wait is bounded, so that a server that goes silent fails the event instead of hanging it
(and every thread queued behind the connection's lock) until the Lambda function times out:
connecting (`connect_timeout`), a dead peer or path (`tcp_user_timeout` and TCP keepalives), and a
statement or a lock wait on the server (`statement_timeout`, `lock_timeout`). Each is a fallback
that the dsn (or, for the server settings, PGOPTIONS or `ALTER ROLE ... SET`) overrides.

Expired rows are purged on a schedule that needs no write: `save` and every read (`load`,
`members`, `rooms`, `connections`) check whether a purge is due and, at most once per
`sweep_interval` seconds per backend object (per Lambda container), send the purge in the same
message as their own statement. Every event makes one of these calls (CONNECT saves, the others
load), so the calls that change one connection's rows need not check too. A background thread
would be no schedule on Lambda, which freezes a container between events; `pg_cron` would be one,
but it is an extension many servers lack. The due time is on the wall clock, which counts the
time a container spent frozen; the monotonic clock need not. A database no container reaches
keeps its expired rows, unseen by any read, until the next call; where that matters, schedule
the two DELETEs of `_SWEEP` in the database yourself (with pg_cron, say), `now` being
`extract(epoch from now())`.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from asgiway.backends.base import (
    RECORD_LIFETIME_SECONDS,
    Backend,
    ConnectionRecord,
    check_reason,
    dump_json,
)
from asgiway.backends.dsn import Dsn
from asgiway.exceptions import BackendError, ConfigurationError

if TYPE_CHECKING:
    from psycopg2 import Error as DriverError
    from psycopg2.extensions import connection as Connection
    from psycopg2.extensions import cursor as Cursor

#: How long libpq waits for each host to answer, unless the dsn or PGCONNECT_TIMEOUT says: an
#: unreachable server then fails the event with an error naming it, well within API Gateway's
#: 29-second integration timeout, instead of hanging until the Lambda function times out.
CONNECT_TIMEOUT_SECONDS = 5
#: libpq connection options for a peer that stops answering after connecting (a host that died, a
#: network path that dropped), each used unless the dsn sets it: data the server does not
#: acknowledge within `tcp_user_timeout` ms, or keepalive probes left unanswered while waiting for a
#: reply, close the connection, and the call fails instead of waiting forever. libpq ignores them
#: on Unix sockets. Probes are answered by the server's kernel, so a long statement is not cut.
TCP_OPTIONS = {
    "tcp_user_timeout": "10000",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
}
#: libpq learnt tcp_user_timeout in version 12; an older one refuses to connect with it.
TCP_USER_TIMEOUT_LIBPQ_VERSION = 120000
#: Server settings for each new session, applied only while the setting is still off (0) and was
#: not set for this client, role or database: statements here take milliseconds, so these only
#: bound a server that is stuck (a lock held by a forgotten transaction, an overloaded disk).
SESSION_SETTINGS = {"statement_timeout": "10s", "lock_timeout": "5s"}
#: libpq's default port, shown for a host the dsn gives without one.
DEFAULT_PORT = 5432
# The tables land in the first schema of the search path. Ids and room names use the "C"
# collation: they are opaque bytes to compare, and "C" indexes cannot be corrupted by a change of
# the server's libc collation rules. Scope and state stay TEXT: JSONB would reorder their keys and
# reject \u0000, and nothing here queries inside them.
#
# Two containers starting at once must not both create: concurrent CREATE TABLE IF NOT EXISTS of
# one table fails with a unique violation in pg_type (neither sees the other's uncommitted table),
# so creators take turns on a transaction-level advisory lock (its key is "asgiway" in ASCII).
# Each check comes after the lock, and no DDL runs on what exists, because CREATE INDEX IF NOT
# EXISTS takes a share lock on an existing table even when the index is there, and holding it on
# both tables would deadlock with another container's writes to both. An index added in a later
# version (asgiway_rooms_expiry) is created on existing tables by the first container to start:
# that locks only asgiway_rooms, and waits for nothing once it has the lock, so it cannot deadlock;
# writes to the table wait for the build, which is quick on a table of live memberships.
#
# `ended` (NULL while the connection is live, else why it ended) came later too: a table without
# it gets it from the first container to start, last of all. ADD COLUMN without a default only
# changes the catalog, rewriting no row (existing records read NULL, live), but takes an ACCESS
# EXCLUSIVE lock on asgiway_connections, so it runs only when pg_attribute lacks the column. It
# cannot deadlock: every write that locks both tables locks asgiway_rooms first, so none holds
# asgiway_connections while waiting for the share lock a new index may hold on asgiway_rooms. It
# waits for statements in flight, milliseconds each, within lock_timeout (past it, the call fails
# and the next one tries again). Containers still on the earlier version keep working on the new
# column, never naming it (they would list ended connections until they are replaced).
_SCHEMA = """
DO $$
BEGIN
    PERFORM pg_advisory_xact_lock(27429960729190777);
    IF to_regclass('asgiway_connections') IS NULL THEN
        CREATE TABLE asgiway_connections (
            connection_id TEXT COLLATE "C" PRIMARY KEY,
            scope TEXT NOT NULL,
            state TEXT NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            ended TEXT
        );
    END IF;
    IF to_regclass('asgiway_connections_expiry') IS NULL THEN
        CREATE INDEX asgiway_connections_expiry ON asgiway_connections (expires_at);
    END IF;
    IF to_regclass('asgiway_rooms') IS NULL THEN
        CREATE TABLE asgiway_rooms (
            room TEXT COLLATE "C" NOT NULL,
            connection_id TEXT COLLATE "C" NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (room, connection_id)
        );
    END IF;
    IF to_regclass('asgiway_rooms_connection') IS NULL THEN
        CREATE INDEX asgiway_rooms_connection ON asgiway_rooms (connection_id);
    END IF;
    IF to_regclass('asgiway_rooms_expiry') IS NULL THEN
        CREATE INDEX asgiway_rooms_expiry ON asgiway_rooms (expires_at);
    END IF;
    IF NOT EXISTS (
        SELECT FROM pg_attribute
        WHERE attrelid = to_regclass('asgiway_connections') AND attname = 'ended' AND NOT attisdropped
    ) THEN
        ALTER TABLE asgiway_connections ADD COLUMN ended TEXT;
    END IF;
END
$$
"""

# Writes of several statements take their row locks in one order, rooms before connections, so
# that a sweep and a delete in two containers do not deadlock. The sweep deletes memberships in
# one statement, so in one scan: two sweeps (or a sweep and a delete) lock rows in the same order.
# `= ANY(ARRAY(...))` rather than `IN (...)` lets the planner use an index for each side of the OR
# (a BitmapOr of asgiway_rooms_expiry and asgiway_rooms_connection, then the rows in table order);
# with `IN` it can only scan the whole table.
_SWEEP = """
DELETE FROM asgiway_rooms WHERE expires_at <= %(now)s OR connection_id = ANY(ARRAY(
    SELECT connection_id FROM asgiway_connections WHERE expires_at <= %(now)s));
DELETE FROM asgiway_connections WHERE expires_at <= %(now)s;
"""
_UPSERT = """
INSERT INTO asgiway_connections (connection_id, scope, state, expires_at, ended)
VALUES (%(id)s, %(scope)s, %(state)s, %(expires_at)s, %(ended)s)
ON CONFLICT (connection_id) DO UPDATE
SET scope = EXCLUDED.scope, state = EXCLUDED.state, expires_at = EXCLUDED.expires_at,
    ended = EXCLUDED.ended
"""
# RETURNING tells whether a row changed: `_execute` hands back rows, not a row count. COALESCE
# keeps a reason the row holds; an `end` committed while this waited for the row's lock counts,
# since READ COMMITTED evaluates the SET on the row version that lock found.
_UPDATE = """
UPDATE asgiway_connections
SET scope = %(scope)s, state = %(state)s, expires_at = %(expires_at)s, ended = COALESCE(ended, %(ended)s)
WHERE connection_id = %(id)s AND expires_at > %(now)s
RETURNING connection_id
"""
# Rooms before the connection, as every write of both tables; the memberships go only if the
# record is live, so that nothing is written otherwise. A `join` committed after the DELETE leaves
# a membership that `members` and `rooms` never show (the record is ended) and `delete` removes.
_END = """
DELETE FROM asgiway_rooms WHERE connection_id = %(id)s AND EXISTS (
    SELECT FROM asgiway_connections WHERE connection_id = %(id)s AND expires_at > %(now)s);
UPDATE asgiway_connections SET ended = COALESCE(ended, %(reason)s)
WHERE connection_id = %(id)s AND expires_at > %(now)s
RETURNING connection_id
"""
# Sets the fallback server settings where nothing set them (see SESSION_SETTINGS), in one round trip.
# A source of "client" is the dsn's `options` or PGOPTIONS; the others are ALTER ROLE/DATABASE SET.
_SESSION = """
SELECT set_config(s.name, fallback.value, false)
FROM json_each_text(%(settings)s) AS fallback JOIN pg_settings AS s ON s.name = fallback.key
WHERE s.setting = '0' AND s.source NOT IN ('client', 'user', 'database', 'database user')
"""
_DELETE = """
DELETE FROM asgiway_rooms WHERE connection_id = %(id)s;
DELETE FROM asgiway_connections WHERE connection_id = %(id)s;
"""


class PostgreSQLBackend(Backend):
    """Connection records and room memberships in two tables of a PostgreSQL database.

    Threads share one connection behind a lock rather than a pool: every PostgreSQL connection is
    a server process out of `max_connections`, shared by all the Lambda containers, and a
    container serves one event at a time, so a pool would only hold more of them; the threads of
    the emulator and of tests take turns on statements that take a millisecond.

    The connection is in autocommit mode and each call's SQL goes to the server in one message,
    which PostgreSQL runs as one transaction even when it holds several statements (a delete, a
    sweep): no transaction ever stays open between calls. A connection the server dropped (a
    restart, a failover, `pg_terminate_backend`, an idle timeout) is replaced at the next call,
    which then succeeds.

    Expired rows are invisible to every read, and deleted by a sweep that `save` or a read runs
    when one is due (see the module docstring), at most once per `sweep_interval` seconds. A
    membership expires with its connection, and on its own after the record lifetime (for a `join`
    whose connection was never saved).

    An ended connection's row keeps its reason in the `ended` column (NULL while live): `members`,
    `rooms` and `connections` leave such rows out, `end` sets it and removes the memberships in
    one transaction, and `update` keeps a reason the row holds.
    """

    schemes = ("postgresql", "postgres")

    def __init__(self, dsn: Dsn, *, sweep_interval: float = 60.0) -> None:
        self.dsn = dsn
        self.sweep_interval = sweep_interval
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._tables_created = False
        self._next_sweep = 0.0

    @classmethod
    def from_dsn(cls, dsn: Dsn) -> PostgreSQLBackend:
        # libpq validates the rest when it connects: importing psycopg2 here would slow cold starts.
        return cls(dsn)

    def describe(self) -> str:
        """e.g. "postgresql db1:5432,db2:5433/app": every host, the port libpq uses, the database."""
        hosts = ",".join(_address(host, port) for host, port in self.dsn.hosts) or _address("", None)
        return f"postgresql {hosts}/{self.dsn.database or '(default database)'}"

    def save(self, record: ConnectionRecord) -> None:
        self._execute(
            _UPSERT,
            {
                "id": record.connection_id,
                "scope": dump_json(record.scope),
                "state": dump_json(record.state),
                "expires_at": record.expires_at,
                "ended": record.ended,
                "now": time.time(),
            },
            sweep=True,
        )

    def update(self, record: ConnectionRecord) -> bool:
        # Safe to run again after a lost connection: if the first run applied, the row is live
        # with the new values and the second run rewrites the same values (and says True).
        rows = self._execute(
            _UPDATE,
            {
                "id": record.connection_id,
                "scope": dump_json(record.scope),
                "state": dump_json(record.state),
                "expires_at": record.expires_at,
                "ended": record.ended,
                "now": time.time(),
            },
        )
        return bool(rows)

    def load(self, connection_id: str) -> ConnectionRecord | None:
        rows = self._execute(
            "SELECT scope, state, expires_at, ended FROM asgiway_connections"
            " WHERE connection_id = %(id)s AND expires_at > %(now)s",
            {"id": connection_id, "now": time.time()},
            sweep=True,
        )
        if not rows:
            return None
        ((scope, state, expires_at, ended),) = rows
        return ConnectionRecord.from_columns(connection_id, scope, state, expires_at, ended)

    def end(self, connection_id: str, reason: str) -> bool:
        check_reason(reason)
        # Safe to run again after a lost connection: COALESCE keeps the reason the first run set.
        rows = self._execute(_END, {"id": connection_id, "reason": reason, "now": time.time()})
        return bool(rows)

    def delete(self, connection_id: str) -> None:
        self._execute(_DELETE, {"id": connection_id})

    def join(self, connection_id: str, room: str) -> None:
        self._execute(
            "INSERT INTO asgiway_rooms (room, connection_id, expires_at)"
            " VALUES (%(room)s, %(id)s, %(expires_at)s)"
            " ON CONFLICT (room, connection_id) DO UPDATE SET expires_at = EXCLUDED.expires_at",
            {"room": room, "id": connection_id, "expires_at": time.time() + RECORD_LIFETIME_SECONDS},
        )

    def leave(self, connection_id: str, room: str) -> None:
        self._execute(
            "DELETE FROM asgiway_rooms WHERE room = %(room)s AND connection_id = %(id)s",
            {"room": room, "id": connection_id},
        )

    def members(self, room: str) -> list[str]:
        rows = self._execute(
            "SELECT r.connection_id FROM asgiway_rooms r JOIN asgiway_connections c"
            " ON c.connection_id = r.connection_id"
            " WHERE r.room = %(room)s AND r.expires_at > %(now)s AND c.expires_at > %(now)s"
            " AND c.ended IS NULL",
            {"room": room, "now": time.time()},
            sweep=True,
        )
        return [connection_id for (connection_id,) in rows]

    def rooms(self, connection_id: str) -> list[str]:
        rows = self._execute(
            "SELECT r.room FROM asgiway_rooms r JOIN asgiway_connections c"
            " ON c.connection_id = r.connection_id"
            " WHERE r.connection_id = %(id)s AND r.expires_at > %(now)s AND c.expires_at > %(now)s"
            " AND c.ended IS NULL",
            {"id": connection_id, "now": time.time()},
            sweep=True,
        )
        return [room for (room,) in rows]

    def connections(self) -> list[str]:
        rows = self._execute(
            "SELECT connection_id FROM asgiway_connections WHERE expires_at > %(now)s AND ended IS NULL",
            {"now": time.time()},
            sweep=True,
        )
        return [connection_id for (connection_id,) in rows]

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _execute(self, sql: str, params: dict[str, Any], *, sweep: bool = False) -> list[tuple[Any, ...]]:
        """Run `sql` (one message, so one transaction) under the lock; the rows of its last statement.

        Creates the tables first, once per backend object; with `sweep`, puts the sweep before `sql`
        when one is due. When the statement fails because the connection is gone, it runs once more
        on a new connection.
        """
        try:
            import psycopg2
        except ImportError as exc:
            raise ConfigurationError(
                "the postgresql backend needs psycopg2: pip install 'asgiway[postgresql]'"
            ) from exc
        retried = False
        with self._lock:
            if sweep and time.time() >= self._next_sweep:
                # Set before running: a sweep that fails waits for the next interval, not the next call.
                self._next_sweep = time.time() + self.sweep_interval
                sql, params = _SWEEP + sql, {"now": time.time(), **params}
            while True:
                connection = self._connect()
                try:
                    with connection.cursor() as cursor:
                        if not self._tables_created:
                            self._create_tables(cursor)
                            self._tables_created = True
                        cursor.execute(sql, params)
                        return cursor.fetchall() if cursor.description is not None else []
                except psycopg2.Error as exc:
                    # psycopg2 marks a connection closed once libpq has lost it. Running the
                    # statement again is safe even if the server applied it before the connection
                    # broke: every statement here is an idempotent upsert, update, delete or select
                    # (an `end` run twice says True twice, keeping the first reason).
                    if retried or not connection.closed:
                        raise BackendError(f"{self.describe()}: {self._reason(exc)}") from exc
                    retried = True
                except ValueError as exc:
                    # psycopg2 refuses, before sending, a text value with a NUL: PostgreSQL cannot hold one.
                    raise BackendError(f"{self.describe()}: {exc}") from exc

    def _connect(self) -> Connection:
        """The open connection, or a new one in autocommit mode when there is none or it broke.

        libpq's fallbacks apply only where neither the dsn nor a PG* variable sets a value:
        application_name "asgiway" (to find the sessions in pg_stat_activity), the connect timeout,
        the TCP timeouts of TCP_OPTIONS, and, when the dsn lists several hosts, target_session_attrs
        "read-write". The new session then gets SESSION_SETTINGS where nothing else set them (not
        through libpq's `options`, which would replace the dsn's own, such as its search_path).

        A failure never carries psycopg2's error along (as __cause__ or __context__): its message
        may quote the dsn or a password, which `_reason` masks but a logged traceback would not.
        """
        if self._connection is not None and not self._connection.closed:
            return self._connection
        import psycopg2  # `_execute` has checked that it is installed
        import psycopg2.extensions

        options: dict[str, Any] = {"fallback_application_name": "asgiway"}
        if "connect_timeout" not in self.dsn.params and "PGCONNECT_TIMEOUT" not in os.environ:
            options["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        for name, value in TCP_OPTIONS.items():
            if name in self.dsn.params:
                continue
            if name == "tcp_user_timeout" and (
                psycopg2.extensions.libpq_version() < TCP_USER_TIMEOUT_LIBPQ_VERSION
            ):
                continue
            options[name] = value
        several_hosts = len(self.dsn.hosts) > 1
        if (
            several_hosts
            and "target_session_attrs" not in self.dsn.params
            and "PGTARGETSESSIONATTRS" not in os.environ
        ):
            # Records are written on every CONNECT: with a primary and its replicas listed, use the primary.
            options["target_session_attrs"] = "read-write"
        connection: Connection | None = None
        try:
            connection = psycopg2.connect(self.dsn.original, **options)
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(_SESSION, {"settings": json.dumps(SESSION_SETTINGS)})
        except psycopg2.Error as exc:
            reason = self._reason(exc)
        else:
            self._connection = connection
            return connection
        # Raised here, outside the `except` block, so that the driver's error is not even its context.
        if connection is not None:
            connection.close()
        raise BackendError(f"{self.describe()}: cannot connect: {reason}") from None

    def _create_tables(self, cursor: Cursor) -> None:
        cursor.execute(_SCHEMA)

    def _reason(self, exc: DriverError) -> str:
        """The server's or libpq's message, on one line, with every password in it masked.

        libpq names hosts, ports, users and databases, and may quote a dsn value back (`invalid
        sslmode value: "..."`) or the whole dsn when it cannot parse it.
        """
        message = (exc.diag.message_primary or str(exc)).replace(self.dsn.original, self.dsn.redacted)
        secrets = [self.dsn.password, *(v for k, v in self.dsn.params.items() if "password" in k.lower())]
        for secret in filter(None, secrets):
            message = message.replace(secret, "***")
        return " ".join(message.split())


def _address(host: str, port: int | None) -> str:
    """host:port as libpq reaches it; no host means libpq's default (a Unix socket, or PGHOST)."""
    if ":" in host:
        host = f"[{host}]"
    return f"{host or '(default host)'}:{port or DEFAULT_PORT}"
