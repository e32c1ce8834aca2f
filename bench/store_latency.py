"""Table 3: one MESSAGE through the adapter on each store, against that store's floor.

The floor is the least any adapter must do for a MESSAGE: read the connection's record (its scope,
its state, and whether it still exists) and POST the reply. Nothing is cached between events: the
record is the only proof the connection is still open (a DISCONNECT may have run in another
container), and its state may have been changed by another container, so the one read stays.
"""

from __future__ import annotations

import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from examples.echo.app import app

from asgiway import Adapter
from asgiway.backends import from_dsn
from asgiway.management_api import ManagementApi
from asgiway.testing import ConnectionsApiDouble, LambdaContextStub, connect_event, message_event
from bench.table import Table, median_us, ratio, verdict

CALLS = 200
TARGET = 1.3


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def _moto() -> Iterator[str | None]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _stores(folder: Path, moto: str | None) -> dict[str, str | None]:
    token = uuid.uuid4().hex[:8]
    return {
        "sqlite": f"sqlite://{folder / 'bench.db'}",
        "postgresql": f"postgresql://postgres@127.0.0.1:5432/test?options=-csearch_path%3Dbench_{token}"
        if _listening(5432)
        else None,
        "redis": f"redis://127.0.0.1:6379/0?key_prefix=bench_{token}:" if _listening(6379) else None,
        "dynamodb (moto)": f"dynamodb://Bench{token}?create=true&region=us-east-1&endpoint_url={moto}"
        if moto
        else None,
        "s3 (moto)": f"s3://bench-{token}?create=true&region=us-east-1&endpoint_url={moto}" if moto else None,
    }


def _prepare_postgresql(dsn: str) -> Callable[[], None]:
    import psycopg2

    schema = dsn.rsplit("search_path%3D", 1)[1]
    connection = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/test")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')

    def drop() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        connection.close()

    return drop


def run() -> Table:
    table = Table(
        f"3. MESSAGE latency per store: asgiway against the store's floor (median µs, {CALLS} events; "
        "echo app, loopback @connections)",
        ["store", "floor: read + POST", "asgiway MESSAGE", "ratio", "target", "verdict"],
        anchor="each store's floor (one record read and one @connections POST), measured in the same run",
    )
    with tempfile.TemporaryDirectory() as folder, _moto() as moto, ConnectionsApiDouble() as api:
        for name, dsn in _stores(Path(folder), moto).items():
            if dsn is None:
                table.add(name, "not reachable here", "", "", f"≤ {TARGET}x", "not measured")
                continue
            cleanup = _prepare_postgresql(dsn) if name == "postgresql" else None
            try:
                floor, ours = _measure(dsn, api.endpoint_url)
            finally:
                if cleanup is not None:
                    cleanup()
            table.add(name, floor, ours, ratio(ours, floor), f"≤ {TARGET}x", verdict(ours / floor, TARGET))
    table.notes = [
        "Nothing is cached between events: the record read is also the check that the connection is "
        "still open (a DISCONNECT may have run in another container), and its state may have changed there."
    ]
    return table


def _measure(dsn: str, endpoint_url: str) -> tuple[float, float]:
    handler = Adapter(app, dsn=dsn, websocket_path="/ws", api_gateway_endpoint_url=endpoint_url)
    connection_id = f"Bench{uuid.uuid4().hex[:10]}="
    context = LambdaContextStub(timeout_seconds=60)
    handler(connect_event(connection_id), context)
    event = message_event(connection_id, "hi")
    store = from_dsn(dsn)
    poster = ManagementApi(endpoint_url)

    def floor() -> None:
        assert store.load(connection_id) is not None
        poster.post(connection_id, "Message text was: hi")

    def message() -> None:
        assert handler(event, context)["statusCode"] == 200

    time.sleep(0.2)  # let the CONNECT-time delivery thread finish
    results = median_us(floor, CALLS, warmup=20), median_us(message, CALLS, warmup=20)
    with suppress(Exception):
        handler.close()
        store.close()
    return results
