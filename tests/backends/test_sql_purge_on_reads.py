"""The SQL stores purge expired rows on reads alone, at most once per interval (issue 15, finding 3).

A Lambda container that only reads (MESSAGE and DISCONNECT events load the record) must still let
go of expired records, credentials and all: the sweep is due on `save` and on every read. The
stores' own clock (their module's `time`) is moved forward instead of waiting, so the tests take
no sleep and cannot race a loaded machine.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from asgiway.backends import Backend, ConnectionRecord, from_dsn
from asgiway.backends import postgresql as postgresql_module
from asgiway.backends import sqlite as sqlite_module
from tests.backends.raw_records import rows
from tests.support.stores import STORES

INTERVAL = 60.0  # the stores' default sweep_interval
LIFETIME = 30.0


class Clock:
    """Stands in for the `time` module of the SQL stores: the real time, plus `ahead` seconds."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def time(self) -> float:
        return time.time() + self.ahead


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    make, clean = STORES[request.param]
    token = uuid.uuid4().hex[:12]
    yield make(tmp_path, token, request)
    if clean is not None:
        clean(token)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(sqlite_module, "time", clock)
    monkeypatch.setattr(postgresql_module, "time", clock)
    return clock


def save_with_credential(backend: Backend, clock: Clock, connection_id: str) -> str:
    """A record that kept a credential (as `stored_credentials` allows), in a room; the credential."""
    credential = secrets.token_hex(16)
    scope = {"path": "/ws", "headers": [["authorization", f"Bearer {credential}"]]}
    backend.save(ConnectionRecord(connection_id, scope, {}, clock.time() + LIFETIME))
    backend.join(connection_id, "lobby")
    return credential


READS = {
    "load": lambda backend: backend.load("gone="),
    "members": lambda backend: backend.members("lobby"),
    "rooms": lambda backend: backend.rooms("gone="),
    "connections": lambda backend: backend.connections(),
}


@pytest.mark.parametrize("read", sorted(READS))
def test_an_expired_record_with_a_credential_leaves_the_table_after_reads_alone(
    sql_dsn: str, clock: Clock, read: str
) -> None:
    backend = from_dsn(sql_dsn)  # its first call, the save, sweeps: the next sweep is due INTERVAL later
    credential = save_with_credential(backend, clock, "gone=")
    assert credential in rows(sql_dsn)

    clock.ahead = LIFETIME + 1  # expired, but the last sweep is only LIFETIME + 1 seconds old
    assert backend.load("gone=") is None
    assert backend.members("lobby") == []
    assert credential in rows(sql_dsn), "hidden from reads, and kept until the sweep is due"

    clock.ahead = INTERVAL + 1  # a sweep is due: one read, of any kind, runs it
    READS[read](backend)
    assert "gone=" not in rows(sql_dsn)  # neither the record nor its membership
    backend.close()


def test_a_container_that_only_reads_purges_at_its_first_read(sql_dsn: str, clock: Clock) -> None:
    writer = from_dsn(sql_dsn)
    credential = save_with_credential(writer, clock, "gone=")
    writer.close()
    clock.ahead = LIFETIME + 1
    assert credential in rows(sql_dsn)

    reader = from_dsn(sql_dsn)  # a new container: a sweep is due at once
    assert reader.members("lobby") == []
    assert "gone=" not in rows(sql_dsn)
    reader.close()


def test_single_row_writes_leave_the_sweep_to_reads_and_saves(sql_dsn: str, clock: Clock) -> None:
    """join, leave, update, end and delete need not sweep: every event also saves or loads."""
    backend = from_dsn(sql_dsn)
    credential = save_with_credential(backend, clock, "gone=")
    clock.ahead = INTERVAL + 1
    backend.join("other=", "lobby")
    backend.leave("other=", "lobby")
    backend.delete("other=")
    assert credential in rows(sql_dsn)
    backend.load("other=")
    assert credential not in rows(sql_dsn)
    backend.close()
