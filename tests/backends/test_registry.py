"""From a dsn to a backend: the built-in table, `register_backend` and entry points."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest

from asgiway import backends
from asgiway.backends import Backend, ConnectionRecord, Dsn, from_dsn, register_backend
from asgiway.backends.sqlite import SQLiteBackend
from asgiway.exceptions import ConfigurationError


class MemoryBackend(Backend):
    """A do-nothing backend that only remembers the dsn it was built from."""

    schemes: ClassVar[tuple[str, ...]] = ("memtest", "memtest2")

    def __init__(self, dsn: Dsn) -> None:
        self.dsn = dsn

    @classmethod
    def from_dsn(cls, dsn: Dsn) -> MemoryBackend:
        return cls(dsn)

    def save(self, record: ConnectionRecord) -> None:
        raise NotImplementedError

    def update(self, record: ConnectionRecord) -> bool:
        raise NotImplementedError

    def load(self, connection_id: str) -> ConnectionRecord | None:
        raise NotImplementedError

    def delete(self, connection_id: str) -> None:
        raise NotImplementedError

    def join(self, connection_id: str, room: str) -> None:
        raise NotImplementedError

    def leave(self, connection_id: str, room: str) -> None:
        raise NotImplementedError

    def members(self, room: str) -> list[str]:
        raise NotImplementedError

    def rooms(self, connection_id: str) -> list[str]:
        raise NotImplementedError

    def connections(self) -> list[str]:
        raise NotImplementedError

    def describe(self) -> str:
        return f"memory {self.dsn.redacted}"


@pytest.fixture(autouse=True)
def empty_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with nothing registered and no entry points, and leaves nothing behind."""
    monkeypatch.setattr(backends, "_registry", {})
    monkeypatch.setattr(backends, "_entry_points", tuple)


def fake_entry_point(name: str, value: str, loaded: object) -> SimpleNamespace:
    def load() -> object:
        if isinstance(loaded, Exception):
            raise loaded
        return loaded

    return SimpleNamespace(name=name, value=value, load=load)


def test_sqlite_is_built_in(tmp_path: Path) -> None:
    backend = from_dsn(f"sqlite://{tmp_path}/chat.db")
    assert isinstance(backend, SQLiteBackend)
    assert backend.describe() == f"sqlite file {tmp_path}/chat.db"


BUILT_IN = {
    "postgresql://u:hunter2@db.internal/app": "PostgreSQLBackend",
    "postgres://u:hunter2@db.internal/app": "PostgreSQLBackend",
    "redis://:hunter2@cache.internal:6379/0": "RedisBackend",
    "rediss://:hunter2@cache.internal:6379/0": "RedisBackend",
    "dynamodb://MyTable?region=eu-west-1": "DynamoDBBackend",
    "s3://my-bucket-12345/ws/?region=eu-west-1": "S3Backend",
}


@pytest.mark.parametrize("dsn", list(BUILT_IN))
def test_every_scheme_has_a_built_in_backend_that_connects_lazily(dsn: str) -> None:
    """Building a backend validates its dsn but neither connects nor imports the driver."""
    script = (
        "import sys\n"
        "from asgiway.backends import from_dsn\n"
        f"backend = from_dsn({dsn!r})\n"
        "print(type(backend).__name__)\n"
        "print(repr(backend))\n"
        "print(sorted(m for m in ('boto3', 'botocore', 'psycopg2', 'redis') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    name, description, drivers = result.stdout.splitlines()
    assert name == BUILT_IN[dsn]
    assert "hunter2" not in description
    assert drivers == "[]"


def test_unknown_scheme_suggests_a_close_one() -> None:
    with pytest.raises(ConfigurationError, match="scheme 'sqlit'; did you mean 'sqlite'"):
        from_dsn("sqlit://chat.db")
    with pytest.raises(ConfigurationError, match="scheme 'dynamdb'; did you mean 'dynamodb'"):
        from_dsn("dynamdb://Table")


def test_bad_dsn_fails_before_the_lookup() -> None:
    with pytest.raises(ConfigurationError, match="port 'x' is not a number"):
        from_dsn("redis://h:x")


def test_register_backend_as_a_decorator() -> None:
    registered = register_backend(MemoryBackend)
    assert registered is MemoryBackend
    first = from_dsn("memtest://u:pw@host/x")
    second = from_dsn("MEMTEST2://host")
    assert isinstance(first, MemoryBackend)
    assert isinstance(second, MemoryBackend)
    assert first.dsn.hosts == (("host", None),)
    assert repr(first) == "MemoryBackend(memory memtest://u:***@host/x)"


def test_register_backend_replaces_a_built_in(tmp_path: Path) -> None:
    class OtherSQLite(SQLiteBackend):
        pass

    register_backend(OtherSQLite)
    assert type(from_dsn(f"sqlite://{tmp_path}/x.db")) is OtherSQLite


def test_register_backend_checks_its_argument() -> None:
    with pytest.raises(ConfigurationError, match=r"is not a subclass of asgiway\.backends\.Backend"):
        register_backend(object)  # type: ignore[type-var]

    class NoSchemes(MemoryBackend):
        schemes = ()

    with pytest.raises(ConfigurationError, match=r"NoSchemes.schemes must be a non-empty tuple"):
        register_backend(NoSchemes)


def test_unknown_schemes_are_looked_up_in_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    point = fake_entry_point("memtest", "memtest_pkg:MemoryBackend", MemoryBackend)
    monkeypatch.setattr(backends, "_entry_points", lambda: (point,))
    assert isinstance(from_dsn("memtest://h"), MemoryBackend)
    # Loaded once, then registered for every scheme of the class.
    monkeypatch.setattr(backends, "_entry_points", tuple)
    assert isinstance(from_dsn("memtest2://h"), MemoryBackend)


def test_entry_points_are_listed_as_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    point = fake_entry_point("mongodb", "asgiway_mongo:Backend", MemoryBackend)
    monkeypatch.setattr(backends, "_entry_points", lambda: (point,))
    with pytest.raises(
        ConfigurationError,
        match=r"\(installed: dynamodb, mongodb, postgres, postgresql, redis, rediss, s3, sqlite\)",
    ):
        from_dsn("cassandra://h")


def test_entry_point_that_fails_to_import(monkeypatch: pytest.MonkeyPatch) -> None:
    point = fake_entry_point("memtest", "memtest_pkg:Missing", ImportError("No module named 'x'"))
    monkeypatch.setattr(backends, "_entry_points", lambda: (point,))
    with pytest.raises(ConfigurationError, match=r"memtest_pkg:Missing.*failed to import: No module"):
        from_dsn("memtest://h")


def test_entry_point_that_is_not_a_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    point = fake_entry_point("memtest", "memtest_pkg:thing", object())
    monkeypatch.setattr(backends, "_entry_points", lambda: (point,))
    with pytest.raises(ConfigurationError, match=r"memtest_pkg:thing.*is not a subclass of Backend"):
        from_dsn("memtest://h")


def test_entry_point_whose_class_serves_other_schemes(monkeypatch: pytest.MonkeyPatch) -> None:
    point = fake_entry_point("other", "memtest_pkg:MemoryBackend", MemoryBackend)
    monkeypatch.setattr(backends, "_entry_points", lambda: (point,))
    with pytest.raises(ConfigurationError, match="registered for scheme 'other' but its schemes"):
        from_dsn("other://h")


def test_two_entry_points_for_one_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    points = (
        fake_entry_point("memtest", "one:MemoryBackend", MemoryBackend),
        fake_entry_point("memtest", "two:MemoryBackend", MemoryBackend),
    )
    monkeypatch.setattr(backends, "_entry_points", lambda: points)
    with pytest.raises(ConfigurationError, match=r"several installed packages .* \(one:Memory"):
        from_dsn("memtest://h")


def test_importing_asgiway_imports_no_backend_module() -> None:
    code = (
        "import sys, asgiway, asgiway.backends\n"
        "loaded = [m for m in ('asgiway.backends.sqlite', 'sqlite3', 'psycopg2', 'redis')"
        " if m in sys.modules]\n"
        "print(loaded)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
