"""@connections faults during a broadcast: clients gone, throttling bursts, server errors, stalls.

API Gateway answers 410 for a client that left, 429 when the account's rate is exceeded and 5xx
when it fails; a connection can also stall. A broadcast must finish within its event's deadline,
remove the gone, retry the throttled and the failed (botocore's standard mode: 5 attempts in all,
since its `max_attempts` counts retries, backing off up to 1 + 2 + 4 + 8 s) and report every other
failure by connection, without posting anything twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter
from asgiway.backends import Backend, ConnectionRecord, from_dsn
from asgiway.backends.base import RECORD_LIFETIME_SECONDS
from asgiway.connections import Connections
from asgiway.testing import ConnectionsApiDouble, LambdaContextStub, connect_event, message_event

DEADLINE_SECONDS = 2.0
STALL_SECONDS = 30.0
ATTEMPTS = 5
DEADLINE_REASON = "no answer before the event's deadline"
#: The Lambda time of the event whose broadcast stalls. Its broadcast gives up a tenth of the
#: app's time (at most a second) before the app is cut off, and in between the app must take its
#: result and store it. With 11.5 s the app has 10 s, once the reply margin and its unwinding time
#: are kept, so it has that whole second: with 4 s it had a quarter of one, which a loaded runner
#: can take from it. Its answer comes about 9 s in, 2.5 s before the Lambda would end it.
STALLED_EVENT_SECONDS = 11.5

#: How many connections answer each way; a client's fate is in its id. Sized so that the retries
#: stay within botocore's retry quota (500 tokens per client, 5 per retry, 10 per timeout).
FATES = {
    "gone": 20,  # 410: left
    "burst429": 10,  # throttled twice, then served
    "always429": 5,  # throttled on every attempt
    "burst500": 5,  # one 500, then served
    "always500": 5,  # 500 on every attempt
    "fine": 50,
}


def ids(fate: str) -> list[str]:
    return [f"{fate}{number:03d}=" for number in range(FATES[fate])]


def connected_a_minute_ago(store: Backend, connection_id: str) -> None:
    """A record past the handshake grace, so a 410 means the client has really left."""
    expires_at = time.time() + RECORD_LIFETIME_SECONDS - 60
    store.save(ConnectionRecord(connection_id, {"path": "/"}, {}, expires_at))


def with_fates(api: ConnectionsApiDouble) -> None:
    api.gone.update(ids("gone"))
    api.failures.update({connection_id: (2, 429) for connection_id in ids("burst429")})
    api.statuses.update({connection_id: 429 for connection_id in ids("always429")})
    api.failures.update({connection_id: (1, 500) for connection_id in ids("burst500")})
    api.statuses.update({connection_id: 500 for connection_id in ids("always500")})


def test_a_broadcast_through_every_fault_prunes_retries_and_reports_by_connection(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    store = from_dsn(dsn)
    for fate in FATES:
        for connection_id in ids(fate):
            connected_a_minute_ago(store, connection_id)
    with_fates(connections_api)
    connections = Connections(backend=store, endpoint_url=connections_api.endpoint_url)

    result = asyncio.run(connections.broadcast("news"))

    assert sorted(result.sent) == sorted(ids("fine") + ids("burst429") + ids("burst500"))
    assert sorted(result.gone) == ids("gone")
    assert sorted(result.failed) == sorted(ids("always429") + ids("always500"))
    for connection_id in ids("always429"):
        assert "LimitExceededException" in result.failed[connection_id]
    for connection_id in ids("always500"):
        assert "InternalServerError" in result.failed[connection_id]

    # The gone are marked gone (out of every listing until their DISCONNECT); a failure is not a
    # departure, so everyone else stays live.
    gone = [store.load(connection_id) for connection_id in ids("gone")]
    assert all(record is not None and record.ended == "gone" for record in gone)
    kept = [connection_id for fate in FATES if fate != "gone" for connection_id in ids(fate)]
    assert all(
        (record := store.load(connection_id)) is not None and record.ended is None for connection_id in kept
    )
    assert sorted(store.connections()) == sorted(kept)

    # Retried exactly as often as the fault asked, and nothing served twice.
    posts = {connection_id: len(connections_api.sent(connection_id)) for connection_id in kept}
    assert {posts[connection_id] for connection_id in ids("fine")} == {1}
    assert {posts[connection_id] for connection_id in ids("burst429")} == {3}
    assert {posts[connection_id] for connection_id in ids("burst500")} == {2}
    assert {posts[connection_id] for connection_id in ids("always429") + ids("always500")} == {ATTEMPTS}


def test_a_broadcast_with_stalled_clients_ends_at_its_deadline_and_names_them(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    store = from_dsn(dsn)
    stalled, fine = ids("always429"), ids("fine")  # five ids of one kind, fifty of another
    for connection_id in stalled + fine:
        connected_a_minute_ago(store, connection_id)
    connections_api.delays.update({connection_id: STALL_SECONDS for connection_id in stalled})
    connections = Connections(backend=store, endpoint_url=connections_api.endpoint_url)
    connections.deadline = time.monotonic() + DEADLINE_SECONDS

    started = time.monotonic()
    result = asyncio.run(connections.broadcast("news"))
    elapsed = time.monotonic() - started

    assert elapsed < DEADLINE_SECONDS + 2, f"the broadcast took {elapsed:.1f} s"
    assert sorted(result.sent) == fine
    assert result.failed == dict.fromkeys(stalled, DEADLINE_REASON)
    assert all(store.load(connection_id) is not None for connection_id in stalled)


def test_an_event_whose_broadcast_stalls_still_answers_within_its_lambda_time(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """The app's broadcast inherits the event's deadline: a stalled client cannot hold the event
    past the Lambda's remaining time, and the app learns who was not reached."""

    async def announce(websocket: WebSocket) -> None:
        await websocket.accept()
        connections = Connections.of(websocket)
        if websocket.scope["asgiway.event"] == "connect":
            await connections.join("hall")
        text = await websocket.receive_text()
        result = await connections.broadcast(text, room="hall", exclude=[connections.connection_id or ""])
        websocket.state.unreached = sorted(result.failed)
        await websocket.receive_text()

    handler = Adapter(
        Starlette(routes=[WebSocketRoute("/", announce)]),
        dsn=dsn,
        lifespan="off",
        api_gateway_endpoint_url=connections_api.endpoint_url,
    )
    members = ["speaker=", *(f"listener{number}=" for number in range(8))]
    for connection_id in members:
        assert handler(connect_event(connection_id), LambdaContextStub())["statusCode"] == 200
    connections_api.delays.update({"listener0=": STALL_SECONDS, "listener1=": STALL_SECONDS})

    started = time.monotonic()
    event = message_event("speaker=", "hear ye")
    reply: Any = handler(event, LambdaContextStub(timeout_seconds=STALLED_EVENT_SECONDS))
    elapsed = time.monotonic() - started

    assert reply == {"statusCode": 200}
    assert elapsed < STALLED_EVENT_SECONDS, f"the event took {elapsed:.1f} s of its {STALLED_EVENT_SECONDS} s"
    for number in range(2, 8):
        assert connections_api.sent(f"listener{number}=") == [b"hear ye"]
    record = from_dsn(dsn).load("speaker=")
    assert record is not None
    assert json.loads(json.dumps(record.state["unreached"])) == ["listener0=", "listener1="]
