"""500 WebSocket clients through `asgiway dev` on sqlite, PostgreSQL and Redis: nothing lost, nothing left.

Each client joins one of 5 rooms and sends its messages, then a last one, `end`; every client must
receive every message of its room exactly once, in order per sender, and once all have left the
store must hold no record and no membership, counted in its own tables and keys. Each delivery is a
real @connections POST from a Lambda instance, about 1,300 a second on this 2-core machine, so CI
sends one message and `end` per client on sqlite (100,000 deliveries: the order of each sender's
two shows, and `end` proves nothing came twice) and only `end` on PostgreSQL and Redis (50,000),
whose part is the 500 concurrent CONNECTs and DISCONNECTs: whether a frame arrives twice does not
depend on the store. The issue's 20 messages (a million deliveries per store) run with
`python -m tests.reliability.load`, figures in docs/reliability.md.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.load import run_load
from tests.support.services import REDIS_HOST, REDIS_PORT, postgres_dsn
from tests.support.stores import STORES

CLIENTS, ROOMS = 500, 5
#: Messages per client before its `end` (see the module docstring).
MESSAGES = {"sqlite": 1, "postgresql": 0, "redis": 0}
#: Lambda instances `asgiway dev` may run: this machine has 2 cores.
CONCURRENCY = 4


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def load_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """(store name, dsn, token) for an empty store of the test's own."""
    make, clean = STORES[request.param]
    token = uuid.uuid4().hex[:12]
    yield request.param, make(tmp_path, token, request), token
    if clean is not None:
        clean(token)


def rows_left(store: str, dsn: str, token: str) -> int:
    """Records and memberships the store still holds, counted in its own tables or keys."""
    if store == "sqlite":
        with sqlite3.connect(dsn.removeprefix("sqlite://")) as database:
            return sum(
                database.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("asgiway_connections", "asgiway_rooms")
            )
    if store == "postgresql":
        import psycopg2

        server = psycopg2.connect(postgres_dsn())
        try:
            cursor = server.cursor()
            total = 0
            for table in ("asgiway_connections", "asgiway_rooms"):
                cursor.execute(f'SELECT count(*) FROM "t_{token}".{table}')
                row = cursor.fetchone()
                assert row is not None
                total += int(row[0])
            return total
        finally:
            server.close()
    import redis

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    try:
        return sum(1 for _ in client.scan_iter(match=f"t_{token}:*", count=1000))
    finally:
        client.close()


def test_500_clients_in_5_rooms_get_every_message_once_in_order_and_leave_nothing(
    load_store: tuple[str, str, str],
) -> None:
    store, dsn, token = load_store
    report = run_load(dsn, CLIENTS, ROOMS, MESSAGES[store], CONCURRENCY)
    print(f"\n{store}: {report.summary()}")
    assert report.problems == []
    assert report.frames_received == CLIENTS * MESSAGES[store] * (CLIENTS // ROOMS)
    assert rows_left(store, dsn, token) == 0
