"""What is particular to the PostgreSQL backend: libpq's dsn, errors, reconnection, the tables."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asgiway.backends import Backend, ConnectionRecord, Dsn, from_dsn
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

    def run(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
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


# The tables


def test_tables_are_created_in_the_search_path_schema(make: Make, query: Query, token: str) -> None:
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
        ("asgiway_rooms", "room", "text", "C"),
        ("asgiway_rooms", "connection_id", "text", "C"),
        ("asgiway_rooms", "expires_at", "double precision", None),
    ]
    assert query("SELECT to_regclass('public.asgiway_connections')") == [(None,)]


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
