"""What is particular to the PostgreSQL backend: libpq's dsn, errors, reconnection, the tables."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asgiway.backends import Backend, ConnectionRecord, Dsn, from_dsn, postgresql
from asgiway.backends.postgresql import PostgreSQLBackend
from asgiway.exceptions import BackendError, ConfigurationError
from tests.support import stores
from tests.support.services import POSTGRES_HOST, POSTGRES_PORT, listening, postgres_dsn, require

Query = Callable[..., list[tuple[Any, ...]]]
Make = Callable[..., PostgreSQLBackend]


def record(connection_id: str, expires_in: float = 3600.0) -> ConnectionRecord:
    return ConnectionRecord(connection_id, {"type": "websocket"}, {"n": 1}, time.time() + expires_in)


@pytest.fixture
def token() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture
def dsn(tmp_path: Path, token: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A dsn whose search path is a schema of this test's own, dropped at the end."""
    yield stores.postgresql_dsn(tmp_path, token, request)
    stores.drop_postgresql_schema(token)


@pytest.fixture
def make(dsn: str) -> Iterator[Make]:
    """Builds backends on `dsn` (plus any query parameters given), closing them at the end."""
    made: list[PostgreSQLBackend] = []

    def build(extra_params: str = "", **options: Any) -> PostgreSQLBackend:
        made.append(PostgreSQLBackend(Dsn.parse(dsn + extra_params), **options))
        return made[-1]

    yield build
    for backend in made:
        backend.close()


@pytest.fixture
def query() -> Iterator[Query]:
    """Runs SQL on a connection of the test's own, as an operator would with psql."""
    require(listening(POSTGRES_HOST, POSTGRES_PORT), f"PostgreSQL on {POSTGRES_HOST}:{POSTGRES_PORT}")
    import psycopg2

    connection = psycopg2.connect(postgres_dsn())
    connection.autocommit = True

    def run(sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[tuple[Any, ...]]:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description is not None else []

    yield run
    connection.close()


def backend_pid(backend: PostgreSQLBackend) -> int:
    assert backend._connection is not None
    return backend._connection.info.backend_pid


def session_state(query: Query, pid: int) -> str:
    ((state,),) = query("SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,))
    return str(state)


def terminate(query: Query, pid: int) -> None:
    """End the session as an operator or a server restart would, and wait until it is gone."""
    assert query("SELECT pg_terminate_backend(%s)", (pid,)) == [(True,)]
    deadline = time.monotonic() + 5
    while query("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)):
        assert time.monotonic() < deadline, f"session {pid} still there after pg_terminate_backend"
        time.sleep(0.01)


# Building, without a server


def test_importing_the_backend_does_not_import_psycopg2() -> None:
    script = "import sys, asgiway.backends.postgresql\nprint('psycopg2' in sys.modules)\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_without_psycopg2_the_first_call_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = from_dsn("postgresql://u:hunter2@db.internal/app")
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # makes `import psycopg2` fail
    with pytest.raises(ConfigurationError, match=r"pip install 'asgiway\[postgresql\]'"):
        backend.load("a")


@pytest.mark.parametrize(
    ("dsn", "description"),
    [
        ("postgresql://u:hunter2@db.internal/app", "postgresql db.internal:5432/app"),
        (
            "postgres://u@db1:5433,db2,[2001:db8::1]:5434/app?target_session_attrs=read-write",
            "postgresql db1:5433,db2:5432,[2001:db8::1]:5434/app",
        ),
        ("postgresql:///app", "postgresql (default host):5432/app"),
        ("postgresql://db.internal", "postgresql db.internal:5432/(default database)"),
    ],
)
def test_describe_names_every_host_port_and_the_database(dsn: str, description: str) -> None:
    backend = from_dsn(dsn)
    assert backend.describe() == description
    assert repr(backend) == f"PostgreSQLBackend({description})"


# Errors: host, port and database named, password never shown


def test_unreachable_hosts_fail_at_first_use_naming_each_one() -> None:
    backend = from_dsn("postgresql://ada:hunter2@127.0.0.1:1,127.0.0.1:2/app")
    with pytest.raises(BackendError) as caught:
        backend.save(record("a"))
    message = str(caught.value)
    assert message.startswith("postgresql 127.0.0.1:1,127.0.0.1:2/app: cannot connect: ")
    assert "port 1 failed: Connection refused" in message
    assert "port 2 failed: Connection refused" in message
    assert "hunter2" not in message
    assert "\n" not in message


def test_a_dsn_value_libpq_quotes_back_has_the_password_masked() -> None:
    backend = from_dsn("postgresql://ada:hunter2@127.0.0.1:1/app?sslmode=hunter2")
    with pytest.raises(BackendError) as caught:
        backend.load("a")
    assert str(caught.value) == 'postgresql 127.0.0.1:1/app: cannot connect: invalid sslmode value: "***"'


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://ada:hunter2@127.0.0.1:1/app?sslmode=hunter2",
        "postgresql://ada:hunter2@127.0.0.1:1,127.0.0.1:2/app",
        "postgresql://ada:hunter2@127.0.0.1:1/app?port=hunter2",
    ],
)
def test_a_connect_error_carries_no_unmasked_driver_error(dsn: str) -> None:
    """psycopg2's own error quotes dsn values: chained as a cause, a logged traceback would show it."""
    backend = from_dsn(dsn)
    with pytest.raises(BackendError) as caught:
        backend.load("a")
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None
    shown = [str(error), repr(error), "".join(traceback.format_exception(error))]
    assert all("hunter2" not in text for text in shown), shown
    assert "cannot connect" in shown[2]


def test_a_missing_database_names_it(query: Query) -> None:
    backend = from_dsn(f"postgresql://postgres:hunter2@{POSTGRES_HOST}:{POSTGRES_PORT}/asgiway_missing")
    with pytest.raises(BackendError) as caught:
        backend.connections()
    message = str(caught.value)
    assert message.startswith(f"postgresql {POSTGRES_HOST}:{POSTGRES_PORT}/asgiway_missing: cannot connect: ")
    assert 'database "asgiway_missing" does not exist' in message
    assert "hunter2" not in message


# The connection


def test_a_session_the_server_ended_is_replaced_without_failing_the_call(make: Make, query: Query) -> None:
    backend = make()
    backend.save(record("a"))
    first = backend_pid(backend)
    terminate(query, first)
    backend.save(record("b"))
    second = backend_pid(backend)
    assert second != first
    terminate(query, second)
    assert backend.load("a") is not None
    assert sorted(backend.connections()) == ["a", "b"]


def test_a_failed_statement_is_not_retried_and_leaves_no_transaction_open(
    make: Make, query: Query, token: str
) -> None:
    backend = make()
    backend.save(record("a"))
    pid = backend_pid(backend)
    assert session_state(query, pid) == "idle"
    query(f'DROP TABLE "t_{token}".asgiway_rooms')
    with pytest.raises(BackendError) as caught:
        backend.join("a", "lobby")
    assert str(caught.value) == (
        f'postgresql {POSTGRES_HOST}:{POSTGRES_PORT}/test: relation "asgiway_rooms" does not exist'
    )
    assert backend_pid(backend) == pid
    assert session_state(query, pid) == "idle"
    assert backend.load("a") is not None


@pytest.mark.parametrize(("params", "name"), [("", "asgiway"), ("&application_name=chat", "chat")])
def test_application_name(make: Make, query: Query, params: str, name: str) -> None:
    backend = make(params)
    backend.connections()
    pid = backend_pid(backend)
    assert query("SELECT application_name FROM pg_stat_activity WHERE pid = %s", (pid,)) == [(name,)]


@pytest.mark.parametrize(
    ("params", "environment", "timeout"),
    [("", None, "5"), ("&connect_timeout=9", "7", "9"), ("", "7", "7")],
)
def test_connect_timeout(
    make: Make, monkeypatch: pytest.MonkeyPatch, params: str, environment: str | None, timeout: str
) -> None:
    if environment is None:
        monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("PGCONNECT_TIMEOUT", environment)
    backend = make(params)
    backend.connections()
    assert backend._connection is not None
    assert backend._connection.get_dsn_parameters()["connect_timeout"] == timeout


def show(backend: PostgreSQLBackend, *names: str) -> list[str]:
    return [str(backend._execute(f"SHOW {name}", {})[0][0]) for name in names]


def test_every_wait_is_bounded_by_default(make: Make, query: Query, token: str) -> None:
    """A server that goes silent after connecting fails the call instead of hanging it forever."""
    backend = make()
    backend.connections()
    first = backend_pid(backend)
    assert show(backend, "statement_timeout", "lock_timeout") == ["10s", "5s"]
    assert backend._connection is not None
    parameters = backend._connection.get_dsn_parameters()
    assert {name: parameters.get(name) for name in postgresql.TCP_OPTIONS} == {
        "tcp_user_timeout": "10000",
        "keepalives": "1",
        "keepalives_idle": "5",
        "keepalives_interval": "2",
        "keepalives_count": "3",
    }
    # The dsn's own `options` (the search path here) still apply.
    assert show(backend, "search_path") == [f"t_{token}"]
    # A replacement session gets them too.
    terminate(query, first)
    backend.connections()
    assert backend_pid(backend) != first
    assert show(backend, "statement_timeout", "lock_timeout", "search_path") == ["10s", "5s", f"t_{token}"]


def test_a_dsn_that_sets_the_timeouts_wins(make: Make, token: str) -> None:
    # The fixture's dsn ends inside its `options` value: "%20-c..." adds settings to it.
    backend = make(
        "%20-cstatement_timeout%3D3s%20-clock_timeout%3D0"
        "&tcp_user_timeout=2000&keepalives_idle=30&keepalives=0"
    )
    backend.connections()
    assert show(backend, "statement_timeout", "lock_timeout", "search_path") == ["3s", "0", f"t_{token}"]
    assert backend._connection is not None
    parameters = backend._connection.get_dsn_parameters()
    assert parameters["tcp_user_timeout"] == "2000"
    assert parameters["keepalives_idle"] == "30"
    assert parameters["keepalives"] == "0"
    assert parameters["keepalives_interval"] == "2"


def test_a_libpq_older_than_12_is_not_given_tcp_user_timeout(
    make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg2.extensions

    monkeypatch.setattr(psycopg2.extensions, "libpq_version", lambda: 110022)
    backend = make()
    backend.connections()
    assert backend._connection is not None
    parameters = backend._connection.get_dsn_parameters()
    assert "tcp_user_timeout" not in parameters
    assert parameters["keepalives"] == "1"


def test_update_runs_again_on_a_new_session_when_the_server_ended_it(make: Make, query: Query) -> None:
    backend = make()
    backend.save(record("a"))
    terminate(query, backend_pid(backend))
    assert backend.update(ConnectionRecord("a", {"type": "websocket"}, {"n": 2}, time.time() + 60)) is True
    loaded = backend.load("a")
    assert loaded is not None
    assert loaded.state == {"n": 2}
    terminate(query, backend_pid(backend))
    assert backend.update(record("missing")) is False


# The tables


def asgiway_relations(query: Query, schema: str) -> list[tuple[Any, ...]]:
    return query(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname LIKE 'asgiway%%' ORDER BY c.relname",
        (schema,),
    )


def test_tables_are_created_in_the_search_path_schema(make: Make, query: Query, token: str) -> None:
    # Compared, not assumed empty: the shared test database may hold tables of other users.
    public_before = asgiway_relations(query, "public")
    make().connections()
    columns = query(
        "SELECT table_schema, table_name, column_name, data_type, collation_name"
        " FROM information_schema.columns WHERE table_name LIKE 'asgiway%%'"
        " AND table_schema = %s ORDER BY table_name, ordinal_position",
        (f"t_{token}",),
    )
    assert [column[1:] for column in columns] == [
        ("asgiway_connections", "connection_id", "text", "C"),
        ("asgiway_connections", "scope", "text", None),
        ("asgiway_connections", "state", "text", None),
        ("asgiway_connections", "expires_at", "double precision", None),
        ("asgiway_connections", "ended", "text", None),
        ("asgiway_rooms", "room", "text", "C"),
        ("asgiway_rooms", "connection_id", "text", "C"),
        ("asgiway_rooms", "expires_at", "double precision", None),
    ]
    assert asgiway_relations(query, "public") == public_before
    assert asgiway_relations(query, f"t_{token}") == [
        ("asgiway_connections", "r"),
        ("asgiway_connections_expiry", "i"),
        ("asgiway_connections_pkey", "i"),
        ("asgiway_rooms", "r"),
        ("asgiway_rooms_connection", "i"),
        ("asgiway_rooms_expiry", "i"),
        ("asgiway_rooms_pkey", "i"),
    ]


#: The tables as asgiway versions without asgiway_rooms_expiry created them.
OLD_SCHEMA = """
CREATE TABLE asgiway_connections (connection_id TEXT COLLATE "C" PRIMARY KEY, scope TEXT NOT NULL,
    state TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL);
CREATE INDEX asgiway_connections_expiry ON asgiway_connections (expires_at);
CREATE TABLE asgiway_rooms (room TEXT COLLATE "C" NOT NULL, connection_id TEXT COLLATE "C" NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (room, connection_id));
CREATE INDEX asgiway_rooms_connection ON asgiway_rooms (connection_id);
"""


def test_tables_of_an_earlier_version_get_the_new_index(make: Make, query: Query, token: str) -> None:
    query(f'SET search_path TO "t_{token}"; {OLD_SCHEMA}')
    query("INSERT INTO asgiway_rooms VALUES ('lobby', 'a', %s)", (time.time() + 60,))
    query("INSERT INTO asgiway_connections VALUES ('a', '{}', '{}', %s)", (time.time() + 60,))
    # Containers of the new version start together, while writing to both tables.
    backends = [make() for _ in range(4)]
    assert first_use_together(list(backends)) == []
    assert query("SELECT to_regclass('asgiway_rooms_expiry')::text") == [("asgiway_rooms_expiry",)]
    assert sorted(backends[0].members("lobby")) == ["a", "c0", "c1", "c2", "c3"]


def test_existing_tables_are_used_without_waiting_for_writers(dsn: str, make: Make, query: Query) -> None:
    """No DDL (so no share lock) runs on tables that have every index: open writes do not block it."""
    make().connections()
    import psycopg2

    writer = psycopg2.connect(dsn)
    try:
        with writer.cursor() as cursor:  # a transaction, left open, writing to both tables
            cursor.execute("LOCK TABLE asgiway_rooms, asgiway_connections IN ROW EXCLUSIVE MODE")
        # lock_timeout 1s: a first use that waited for a table lock would fail, fast.
        backend = make("%20-clock_timeout%3D1s")
        backend.save(record("a"))
        backend.join("a", "lobby")
        assert backend.members("lobby") == ["a"]
    finally:
        writer.close()


def test_the_sweep_uses_indexes(make: Make, query: Query, token: str) -> None:
    backend = make()
    backend.connections()
    now = time.time()
    query(
        f"INSERT INTO \"t_{token}\".asgiway_connections SELECT 'c' || i, '{{}}', '{{}}',"
        " %s + CASE WHEN i %% 100 = 0 THEN -10 ELSE 3600 END FROM generate_series(1, 20000) i",
        (now,),
    )
    query(
        f"INSERT INTO \"t_{token}\".asgiway_rooms SELECT 'r' || (i %% 50), 'c' || i,"
        " %s + CASE WHEN i %% 97 = 0 THEN -10 ELSE 3600 END FROM generate_series(1, 20000) i",
        (now,),
    )
    query(f'ANALYZE "t_{token}".asgiway_connections, "t_{token}".asgiway_rooms')
    rooms, connections = filter(str.strip, postgresql._SWEEP.split(";"))
    rooms_plan = "\n".join(row[0] for row in backend._execute(f"EXPLAIN {rooms}", {"now": now}))
    assert "Seq Scan" not in rooms_plan, rooms_plan
    assert "BitmapOr" in rooms_plan, rooms_plan
    assert "Bitmap Index Scan on asgiway_rooms_expiry" in rooms_plan, rooms_plan
    assert "Bitmap Index Scan on asgiway_rooms_connection" in rooms_plan, rooms_plan
    assert "Index Scan using asgiway_connections_expiry" in rooms_plan, rooms_plan
    connections_plan = "\n".join(row[0] for row in backend._execute(f"EXPLAIN {connections}", {"now": now}))
    assert "Index Scan using asgiway_connections_expiry" in connections_plan, connections_plan
    # And it deletes what it should: expired memberships, and those of expired connections.
    expired_memberships = query(
        f'SELECT count(*) FROM "t_{token}".asgiway_rooms r WHERE r.expires_at <= %(now)s'
        f' OR r.connection_id IN (SELECT connection_id FROM "t_{token}".asgiway_connections'
        " WHERE expires_at <= %(now)s)",
        {"now": now},
    )
    assert expired_memberships[0][0] > 0
    make(sweep_interval=0).save(record("new"))
    assert query(f'SELECT count(*) FROM "t_{token}".asgiway_rooms') == [(20000 - expired_memberships[0][0],)]
    assert query(f'SELECT count(*) FROM "t_{token}".asgiway_connections') == [(20000 - 200 + 1,)]


def first_use_together(backends: list[Backend]) -> list[BaseException]:
    """Every backend saves a record and joins "lobby" at the same moment, each in a thread."""
    start = threading.Barrier(len(backends))
    errors: list[BaseException] = []

    def first_use(backend: Backend, name: str) -> None:
        try:
            start.wait()
            backend.save(record(name))
            backend.join(name, "lobby")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(b, f"c{i}")) for i, b in enumerate(backends)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_concurrent_first_use_by_several_backends(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Containers starting together all create the tables: none may fail or deadlock."""
    for _ in range(5):
        token = uuid.uuid4().hex[:12]
        backends = [from_dsn(stores.postgresql_dsn(tmp_path, token, request)) for _ in range(4)]
        try:
            assert first_use_together(backends) == []
            assert sorted(backends[0].members("lobby")) == ["c0", "c1", "c2", "c3"]
        finally:
            for backend in backends:
                backend.close()
            stores.drop_postgresql_schema(token)


def test_scope_and_state_are_json_text_kept_as_written(make: Make, query: Query, token: str) -> None:
    backend = make()
    # JSONB would sort these keys and reject the NUL character.
    backend.save(ConnectionRecord("a", {"z": 1, "a": ["ü"]}, {"b": "nul\x00", "a": 1.0}))
    rows = query(f'SELECT scope, state FROM "t_{token}".asgiway_connections')
    assert rows == [('{"z":1,"a":["ü"]}', '{"b":"nul\\u0000","a":1.0}')]
    loaded = backend.load("a")
    assert loaded is not None
    assert list(loaded.scope) == ["z", "a"]
    assert loaded.state == {"b": "nul\x00", "a": 1.0}


def test_expired_rows_are_swept_on_save_at_most_once_per_interval(
    make: Make, query: Query, token: str
) -> None:
    table = f'"t_{token}".asgiway_connections'
    spaced = make(sweep_interval=3600)
    spaced.save(record("first"))
    spaced.save(record("old", expires_in=-1))
    spaced.join("old", "lobby")
    spaced.join("never-saved", "lobby")
    spaced.save(record("new"))
    # The first save swept; the next sweep is an hour away, so the expired row is still there.
    assert query(f"SELECT count(*) FROM {table}") == [(3,)]
    make(sweep_interval=0).save(record("newer"))
    assert sorted(query(f"SELECT connection_id FROM {table}")) == [("first",), ("new",), ("newer",)]
    assert query(f'SELECT connection_id FROM "t_{token}".asgiway_rooms') == [("never-saved",)]


def test_a_nul_in_a_room_name_is_a_backend_error(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    token = uuid.uuid4().hex[:12]
    backend = from_dsn(stores.postgresql_dsn(tmp_path, token, request))
    try:
        with pytest.raises(BackendError, match="NUL"):
            backend.join("c=", "bad\x00room")
    finally:
        backend.close()
        stores.drop_postgresql_schema(token)


def test_with_several_hosts_the_writable_one_is_chosen(make: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    """Listing the server twice stands in for a primary and its replica: both read-write here."""
    monkeypatch.delenv("PGTARGETSESSIONATTRS", raising=False)
    backend = make("")
    several = PostgreSQLBackend.from_dsn(
        Dsn.parse(
            backend.dsn.original.replace(
                f"{POSTGRES_HOST}:{POSTGRES_PORT}", f"{POSTGRES_HOST}:1,{POSTGRES_HOST}:{POSTGRES_PORT}"
            )
        )
    )
    try:
        several.connections()
        assert several._connection is not None
        assert several._connection.get_dsn_parameters()["target_session_attrs"] == "read-write"
    finally:
        several.close()
