"""Broadcast to 1,000 connections of a room on every store, a tenth of them gone (410)."""

from __future__ import annotations

import asyncio
import time

from asgiway.backends import ConnectionRecord, from_dsn
from asgiway.backends.base import RECORD_LIFETIME_SECONDS
from asgiway.connections import Connections
from asgiway.testing import ConnectionsApiDouble


def test_exactly_the_live_ones_receive_and_the_gone_are_removed(
    store_dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    store = from_dsn(store_dsn)
    ids = [f"Conn{n:04d}=" for n in range(1000)]
    connected_a_minute_ago = time.time() + RECORD_LIFETIME_SECONDS - 60
    for connection_id in ids:
        store.save(ConnectionRecord(connection_id, {"path": "/"}, {}, connected_a_minute_ago))
        store.join(connection_id, "lobby")
    gone = set(ids[::10])
    connections_api.gone.update(gone)
    connections = Connections(backend=store, endpoint_url=connections_api.endpoint_url)

    result = asyncio.run(connections.broadcast("hello, lobby", room="lobby"))

    live = set(ids) - gone
    assert set(result.sent) == live
    assert len(result.sent) == len(live) == 900
    assert set(result.gone) == gone
    assert result.failed == {}
    posted = [call.connection_id for call in connections_api.calls_of("POST")]
    assert len(posted) == len(set(posted)) == 1000  # one try each: nothing sent twice
    assert all(connections_api.sent(connection_id) == [b"hello, lobby"] for connection_id in live)
    assert set(store.members("lobby")) == live
    assert set(store.connections()) == live
    store.close()
