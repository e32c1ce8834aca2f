"""Clients leaving together: every departure reaches the app, through `asgiway dev`.

When twenty chat clients close at once, the "X left" broadcasts of the first DISCONNECTs meet the
others as 410s. Those connections must only be marked gone, not forgotten: each one's own
DISCONNECT still replays the app, so each goodbye is said, exactly once.
"""

from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from websockets.sync.client import ClientConnection, connect

from asgiway.backends import from_dsn
from tests.support.chat_frames import readable
from tests.support.dev_server import DevServer

LEAVING = 20


def joined(stack: ExitStack, server: DevServer, name: str) -> ClientConnection:
    client = stack.enter_context(connect(f"{server.websocket_url}?room=lobby&name={name}", open_timeout=30))
    assert readable(client.recv(timeout=30)).startswith(f"Welcome to #lobby, {name}!")
    return client


def age_by_a_minute(dsn: str) -> None:
    """Make every connection a minute old: a 410 from one younger than HANDSHAKE_GRACE_SECONDS may
    only mean its `$connect` has not returned yet, and is forgiven."""
    store = from_dsn(dsn)
    for connection_id in store.connections():
        record = store.load(connection_id)
        assert record is not None
        store.update(dataclasses.replace(record, expires_at=record.expires_at - 60))
    store.close()


def test_twenty_clients_closing_together_each_get_their_goodbye(tmp_path: Path) -> None:
    dsn = f"sqlite://{tmp_path / 'connections.db'}"
    with (
        DevServer(
            "examples.chat.app:app", "--route", "sendmessage", "--concurrency", "4", "--dsn", dsn
        ) as server,
        ExitStack() as stack,
    ):
        watcher = joined(stack, server, "watcher")
        names = [f"c{number}" for number in range(LEAVING)]
        clients = [joined(stack, server, name) for name in names]
        joins = [readable(watcher.recv(timeout=30)).split(" (")[0] for _ in names]
        assert sorted(joins) == sorted(f"{name} joined" for name in names)
        age_by_a_minute(dsn)
        with ThreadPoolExecutor(LEAVING) as pool:
            list(pool.map(lambda client: client.close(), clients))
        goodbyes = [readable(watcher.recv(timeout=60)) for _ in names]
        assert sorted(goodbye.split(" (")[0] for goodbye in goodbyes) == sorted(
            f"{name} left" for name in names
        )
        # Nothing more: the watcher's own message is the next frame it gets.
        watcher.send(json.dumps({"action": "sendmessage", "data": "still here"}))
        assert readable(watcher.recv(timeout=30)) == "watcher: still here"
