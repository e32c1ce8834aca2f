"""Table 5: a broadcast to 1,000 and 10,000 connections, with @connections adding 10 ms per POST."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from asgiway.backends import ConnectionRecord, from_dsn
from asgiway.backends.base import RECORD_LIFETIME_SECONDS
from asgiway.broadcast_shards import wait_for_shards
from asgiway.connections import Connections
from asgiway.management_api import MAX_CONCURRENT_CALLS
from bench.table import Table, verdict

POST_DELAY_SECONDS = 0.010
TARGETS = {1_000: 0.5, 10_000: 5.0}


@contextmanager
def double_in_its_own_process(delay: float = POST_DELAY_SECONDS) -> Iterator[str]:
    """The @connections stand-in answering after `delay` seconds, in another interpreter: its
    threads must not share our GIL, nor count in our memory."""
    script = (
        "import sys, time\n"
        "from asgiway.testing import ConnectionsApiDouble\n"
        f"double = ConnectionsApiDouble(delay={delay}).start()\n"
        "print(double.endpoint_url, flush=True)\n"
        "sys.stdin.read()\n"
    )
    server = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    assert server.stdin is not None
    try:
        yield server.stdout.readline().strip()
    finally:
        server.stdin.close()
        server.wait(10)


def run() -> Table:
    table = Table(
        f"5. Fan-out: broadcast to a room, @connections answering in {POST_DELAY_SECONDS * 1000:.0f} ms "
        f"(sqlite store, {MAX_CONCURRENT_CALLS} concurrent posts; the endpoint in its own process)",
        ["connections", "sequential would take", "asgiway", "per connection", "target", "verdict"],
        anchor="posting one connection after another (the time it would take, from the endpoint's delay)",
    )
    with tempfile.TemporaryDirectory() as folder, double_in_its_own_process() as endpoint_url:
        store = from_dsn(f"sqlite://{Path(folder) / 'fanout.db'}")
        expires = time.time() + RECORD_LIFETIME_SECONDS - 60
        made = 0
        for size, target in TARGETS.items():
            for number in range(made, size):
                store.save(ConnectionRecord(f"Fan{number:06d}=", {"path": "/"}, {}, expires))
                store.join(f"Fan{number:06d}=", "room")
            made = size
            connections = Connections(backend=store, endpoint_url=endpoint_url)
            started = time.perf_counter()
            result = asyncio.run(connections.broadcast("hello", room="room"))
            returned = time.perf_counter() - started
            # Off Lambda the shards run on a thread pool here: the broadcast is done when they are.
            wait_for_shards()
            elapsed = time.perf_counter() - started
            assert len(result.sent) + len(result.queued) == size, (len(result.sent), len(result.failed))
            table.add(
                f"{size:,}",
                f"{size * POST_DELAY_SECONDS:,.0f} s",
                f"{elapsed:.2f} s (the event returns in {returned:.2f} s, {len(result.queued):,} queued)",
                f"{elapsed / size * 1e6:,.0f} µs",
                f"≤ {target:g} s",
                verdict(elapsed, target),
            )
        store.close()
    return table
