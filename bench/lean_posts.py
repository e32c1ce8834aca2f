"""Table 8: CPU per @connections post, boto3's client against the lean path (`asgiway.signed_posts`),
in a 2,000-connection broadcast; then the same broadcast sharded (shard_size 500, shards run here)."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from asgiway.backends import ConnectionRecord, from_dsn
from asgiway.backends.base import RECORD_LIFETIME_SECONDS
from asgiway.broadcast_shards import wait_for_shards
from asgiway.connections import Connections
from asgiway.management_api import MAX_CONCURRENT_CALLS, ManagementApi
from bench.fanout import POST_DELAY_SECONDS, double_in_its_own_process
from bench.table import Table, verdict

CONNECTIONS = 2_000
TARGET_CPU_MS = 0.4
SHARD_SIZE = 500


def _cpu_per_post_ms(post: Callable[[str], object], ids: list[str]) -> tuple[float, float]:
    """CPU (all threads of this process) per post and wall time, posting from MAX_CONCURRENT_CALLS threads."""
    with ThreadPoolExecutor(MAX_CONCURRENT_CALLS) as pool:
        list(pool.map(post, ids[:200]))  # warm: connections opened, credentials loaded
        cpu, wall = time.process_time(), time.perf_counter()
        list(pool.map(post, ids))
        return (time.process_time() - cpu) / len(ids) * 1000, time.perf_counter() - wall


def run() -> Table:
    table = Table(
        f"8. CPU per @connections post, {CONNECTIONS:,} posts from {MAX_CONCURRENT_CALLS} threads, "
        f"the endpoint answering in {POST_DELAY_SECONDS * 1000:.0f} ms in its own process "
        "(anchor: boto3's client)",
        ["path", "CPU per post", "wall", "target", "verdict"],
        anchor="boto3's apigatewaymanagementapi client, the same posts in the same run",
    )
    ids = [f"Lean{number:06d}=" for number in range(CONNECTIONS)]
    with tempfile.TemporaryDirectory() as folder, double_in_its_own_process() as endpoint_url:
        api = ManagementApi(endpoint_url)
        boto3_ms, boto3_wall = _cpu_per_post_ms(
            lambda connection_id: api._call("post_to_connection", ConnectionId=connection_id, Data=b"hello"),
            ids,
        )
        table.add("boto3 client (anchor)", f"{boto3_ms:.2f} ms", f"{boto3_wall:.2f} s", "", "")
        lean_ms, lean_wall = _cpu_per_post_ms(lambda connection_id: api.post(connection_id, b"hello"), ids)
        table.add(
            "signed_posts",
            f"{lean_ms:.2f} ms",
            f"{lean_wall:.2f} s",
            f"≤ {TARGET_CPU_MS} ms",
            verdict(lean_ms, TARGET_CPU_MS),
        )

        store = from_dsn(f"sqlite://{Path(folder) / 'lean.db'}")
        expires = time.time() + RECORD_LIFETIME_SECONDS - 60
        for connection_id in ids:
            store.save(ConnectionRecord(connection_id, {"path": "/"}, {}, expires))
            store.join(connection_id, "room")
        for shard_size in (CONNECTIONS, SHARD_SIZE):
            connections = Connections(backend=store, endpoint_url=endpoint_url, shard_size=shard_size)
            cpu, wall = time.process_time(), time.perf_counter()
            result = asyncio.run(connections.broadcast("hello", room="room"))
            returned = time.perf_counter() - wall
            wait_for_shards()
            cpu_ms = (time.process_time() - cpu) / CONNECTIONS * 1000
            assert len(result.sent) + len(result.queued) == CONNECTIONS, (
                len(result.sent),
                len(result.failed),
            )
            label = (
                "broadcast, one event" if shard_size == CONNECTIONS else f"broadcast, shards of {shard_size}"
            )
            table.add(
                f"{label} (returns in {returned:.2f} s)",
                f"{cpu_ms:.2f} ms",
                f"{time.perf_counter() - wall:.2f} s",
                f"≤ {TARGET_CPU_MS} ms",
                verdict(cpu_ms, TARGET_CPU_MS),
            )
        store.close()
    return table
