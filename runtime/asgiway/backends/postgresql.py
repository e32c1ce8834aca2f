"""A store shared by every Lambda container: two tables in a PostgreSQL database, through psycopg2.

The dsn is libpq's URI, handed to libpq as written, so everything libpq reads from it works:
several hosts, `sslmode`, `options=-csearch_path%3Dmyschema` to keep the tables in a schema of
their own, and the PG* environment variables for what the dsn leaves out.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any

from asgiway.backends.base import RECORD_LIFETIME_SECONDS, Backend, ConnectionRecord, dump_json
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
# The check comes after the lock, and no DDL runs when the tables exist, because CREATE INDEX IF
# NOT EXISTS takes a share lock on an existing table and would deadlock with another container's
# writes to both tables.
_SCHEMA = """
DO $$
BEGIN
    PERFORM pg_advisory_xact_lock(27429960729190777);
    IF to_regclass('asgiway_connections_expiry') IS NOT NULL
            AND to_regclass('asgiway_rooms_connection') IS NOT NULL THEN
        RETURN;
    END IF;
    CREATE TABLE IF NOT EXISTS asgiway_connections (
        connection_id TEXT COLLATE "C" PRIMARY KEY,
        scope TEXT NOT NULL,
        state TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX IF NOT EXISTS asgiway_connections_expiry ON asgiway_connections (expires_at);
    CREATE TABLE IF NOT EXISTS asgiway_rooms (
        room TEXT COLLATE "C" NOT NULL,
        connection_id TEXT COLLATE "C" NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (room, connection_id)
    );
    CREATE INDEX IF NOT EXISTS asgiway_rooms_connection ON asgiway_rooms (connection_id);
END
$$
"""

# Writes of several statements take their row locks in one order, rooms before connections, so
# that a sweep and a delete in two containers do not deadlock.
_SWEEP = """
DELETE FROM asgiway_rooms WHERE expires_at <= %(now)s OR connection_id IN
    (SELECT connection_id FROM asgiway_connections WHERE expires_at <= %(now)s);
DELETE FROM asgiway_connections WHERE expires_at <= %(now)s;
"""
_UPSERT = """
INSERT INTO asgiway_connections (connection_id, scope, state, expires_at)
VALUES (%(id)s, %(scope)s, %(state)s, %(expires_at)s)
ON CONFLICT (connection_id) DO UPDATE
SET scope = EXCLUDED.scope, state = EXCLUDED.state, expires_at = EXCLUDED.expires_at
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

    Expired rows are invisible to every read, and deleted by a sweep that runs on `save` at most
    once per `sweep_interval` seconds. A membership expires with its connection, and on its own
    after the record lifetime (for a `join` whose connection was never saved).
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
        sql = _UPSERT
        # Read outside the lock: at worst two threads sweep at once, which is harmless.
        if time.monotonic() >= self._next_sweep:
            self._next_sweep = time.monotonic() + self.sweep_interval
            sql = _SWEEP + _UPSERT
        self._execute(
            sql,
            {
                "id": record.connection_id,
                "scope": dump_json(record.scope),
                "state": dump_json(record.state),
                "expires_at": record.expires_at,
                "now": time.time(),
            },
        )

    def load(self, connection_id: str) -> ConnectionRecord | None:
        rows = self._execute(
            "SELECT scope, state, expires_at FROM asgiway_connections"
            " WHERE connection_id = %(id)s AND expires_at > %(now)s",
            {"id": connection_id, "now": time.time()},
        )
        if not rows:
            return None
        ((scope, state, expires_at),) = rows
        return ConnectionRecord.from_columns(connection_id, scope, state, expires_at)

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
            " WHERE r.room = %(room)s AND r.expires_at > %(now)s AND c.expires_at > %(now)s",
            {"room": room, "now": time.time()},
        )
        return [connection_id for (connection_id,) in rows]

    def rooms(self, connection_id: str) -> list[str]:
        rows = self._execute(
            "SELECT r.room FROM asgiway_rooms r JOIN asgiway_connections c"
            " ON c.connection_id = r.connection_id"
            " WHERE r.connection_id = %(id)s AND r.expires_at > %(now)s AND c.expires_at > %(now)s",
            {"id": connection_id, "now": time.time()},
        )
        return [room for (room,) in rows]

    def connections(self) -> list[str]:
        rows = self._execute(
            "SELECT connection_id FROM asgiway_connections WHERE expires_at > %(now)s",
            {"now": time.time()},
        )
        return [connection_id for (connection_id,) in rows]

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run `sql` (one message, so one transaction) under the lock; the rows of its last statement.

        Creates the tables first, once per backend object. When the statement fails because the
        connection is gone, it runs once more on a new connection.
        """
        try:
            import psycopg2
        except ImportError as exc:
            raise ConfigurationError(
                "the postgresql backend needs psycopg2: pip install 'asgiway[postgresql]'"
            ) from exc
        retried = False
        with self._lock:
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
                    # broke: every statement here is an idempotent upsert, delete or select.
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
        and, when the dsn lists several hosts, target_session_attrs "read-write".
        """
        if self._connection is not None and not self._connection.closed:
            return self._connection
        import psycopg2  # `_execute` has checked that it is installed

        options: dict[str, Any] = {"fallback_application_name": "asgiway"}
        if "connect_timeout" not in self.dsn.params and "PGCONNECT_TIMEOUT" not in os.environ:
            options["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
        several_hosts = len(self.dsn.hosts) > 1
        if (
            several_hosts
            and "target_session_attrs" not in self.dsn.params
            and "PGTARGETSESSIONATTRS" not in os.environ
        ):
            # Records are written on every CONNECT: with a primary and its replicas listed, use the primary.
            options["target_session_attrs"] = "read-write"
        try:
            connection: Connection = psycopg2.connect(self.dsn.original, **options)
        except psycopg2.Error as exc:
            raise BackendError(f"{self.describe()}: cannot connect: {self._reason(exc)}") from exc
        connection.autocommit = True
        self._connection = connection
        return connection

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
