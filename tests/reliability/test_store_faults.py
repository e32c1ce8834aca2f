"""Store faults: the store stops during an event, or restarts between two, on every network store.

Each store here is one the test may stop: a private PostgreSQL and a private Redis (never the
shared ones on 5432 and 6379, which other tests use), and moto's server for DynamoDB and S3,
restarted on the same port with its data. To stop the store *during* an event, the app itself
stops it at the chosen point of its handler; nothing is mocked.

What must hold, per store:
- stopped during CONNECT: 503, and no record of the refused connection once the store is back
  (a room it joined before the stop stays invisible);
- stopped during MESSAGE: a 5xx, the stored state untouched, and the connection usable again as
  soon as the store is back;
- stopped or restarted between events: the same Adapter (same store object, no second lifespan
  startup) serves the next event once the store is back;
- every failing event returns well within its Lambda deadline.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter
from asgiway.backends import Backend, from_dsn
from asgiway.connections import Connections
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    message_event,
)
from asgiway.types import LambdaEvent, LambdaResponse
from tests.support.private_servers import PrivatePostgreSQL, PrivateRedis
from tests.support.services import MotoServer, require
from tests.support.stores import dynamodb_dsn, s3_dsn

ROOM = "lobby"
#: The Lambda function's timeout the events run under (the stub's default, a common setting).
FUNCTION_SECONDS = 30.0
#: A failing event must give up well before its deadline; generous, for a busy 2-core machine.
#: (A stopped server refuses connections at once; the drivers' retries and backoffs, bounded by
#: the backends, add a few seconds at most.)
FAILURE_BOUND_SECONDS = 15.0


class Stoppable(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class FaultyStore:
    """A store's dsn and the server behind it, which a test (or its app) stops and starts."""

    name: str
    dsn: str
    server: Stoppable
    running: bool = True

    def stop(self) -> None:
        if self.running:
            self.server.stop()
            self.running = False

    def start(self) -> None:
        if not self.running:
            self.server.start()
            self.running = True

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    require(PrivateRedis.available(), "redis-server (to run a private Redis)")
    server = PrivateRedis(tmp_path_factory.mktemp("redis"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def private_postgresql() -> Iterator[PrivatePostgreSQL]:
    require(PrivatePostgreSQL.available(), "PostgreSQL's initdb and pg_ctl (to run a private PostgreSQL)")
    server = PrivatePostgreSQL()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(params=["postgresql", "redis", "dynamodb", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FaultyStore]:
    """Each stoppable store in turn, running; started again after the test whatever happened,
    since moto's server is shared by the whole session."""
    token = uuid.uuid4().hex[:12]
    faulty: FaultyStore
    if request.param == "postgresql":
        postgresql: PrivatePostgreSQL = request.getfixturevalue("private_postgresql")
        faulty = FaultyStore("postgresql", postgresql.dsn(), postgresql)
    elif request.param == "redis":
        redis: PrivateRedis = request.getfixturevalue("private_redis")
        faulty = FaultyStore("redis", redis.dsn(f"t_{token}:"), redis)
    else:
        moto: MotoServer = request.getfixturevalue("moto_server")
        make = dynamodb_dsn if request.param == "dynamodb" else s3_dsn
        faulty = FaultyStore(request.param, make(tmp_path, token, request), moto)
    try:
        yield faulty
    finally:
        faulty.start()


def chat(store: FaultyStore, lifespans: list[str]) -> Starlette:
    """A chat whose handlers stop the store where the test's event asks them to.

    CONNECT joins the room, then, given `?outage`, stops the store before accepting. A MESSAGE
    "stop before sending" stops it, then counts and echoes (so the new count must be stored
    after the store went away); "stop, then broadcast" stops it, then calls the store itself.
    Stopping blocks the event loop, which is fine: nothing else runs in this event meanwhile.
    """

    class Chat(WebSocketEndpoint):
        encoding = "text"

        async def on_connect(self, websocket: WebSocket) -> None:
            if websocket.scope["asgiway.event"] == "connect":
                websocket.state.count = 0
                await Connections.of(websocket).join(ROOM)
                if "outage" in websocket.query_params:
                    store.stop()
            await websocket.accept()

        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            if data == "stop, then broadcast":
                store.stop()
                await Connections.of(websocket).broadcast(data, room=ROOM)
                return
            if data == "stop before sending":
                store.stop()
            websocket.state.count += 1
            await websocket.send_text(f"#{websocket.state.count}: {data}")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        lifespans.append("startup")
        yield

    return Starlette(routes=[WebSocketRoute("/ws", Chat)], lifespan=lifespan)


def adapter(store: FaultyStore, api: ConnectionsApiDouble, lifespans: list[str]) -> Adapter:
    return Adapter(
        chat(store, lifespans), dsn=store.dsn, websocket_path="/ws", api_gateway_endpoint_url=api.endpoint_url
    )


def serve(handler: Adapter, event: LambdaEvent) -> LambdaResponse:
    """The handler's response to `event`, which must come well within the Lambda deadline."""
    context = LambdaContextStub(timeout_seconds=FUNCTION_SECONDS)
    started = time.monotonic()
    response = handler(event, context)
    elapsed = time.monotonic() - started
    assert elapsed < FAILURE_BOUND_SECONDS, f"the event took {elapsed:.1f}s of its {FUNCTION_SECONDS:g}s"
    assert context.get_remaining_time_in_millis() > (FUNCTION_SECONDS - FAILURE_BOUND_SECONDS) * 1000
    return response


def store_of(handler: Adapter) -> Backend:
    assert handler.backend is not None
    return handler.backend


def ids() -> tuple[str, str]:
    """Two fresh connection ids, with the '=' and '+' real ids carry."""
    token = uuid.uuid4().hex[:8]
    return f"B{token}=", f"D{token}+"


def test_a_store_stopped_during_connect_answers_503_and_keeps_no_record(
    store: FaultyStore, connections_api: ConnectionsApiDouble
) -> None:
    lifespans: list[str] = []
    handler = adapter(store, connections_api, lifespans)
    before, during = ids()
    assert serve(handler, connect_event(before)) == {"statusCode": 200}

    response = serve(handler, connect_event(during, query={"outage": ["1"]}))

    assert not store.running  # the app did stop it, after joining the room and before accepting
    assert response == {"statusCode": 503, "body": "Service Unavailable"}
    store.start()
    # Neither this container nor a new one sees the refused connection, nor its membership,
    # which was written before the stop: a membership shows only with a live record.
    for backend in (store_of(handler), from_dsn(store.dsn)):
        assert backend.load(during) is None
        assert during not in backend.connections()
        assert backend.rooms(during) == []
        assert backend.members(ROOM) == [before]
    # The connection made before the outage still works, through the same Adapter.
    assert serve(handler, message_event(before, "hello")) == {"statusCode": 200}
    assert connections_api.sent(before) == [b"#1: hello"]
    assert connections_api.sent(during) == []
    assert lifespans == ["startup"]
    handler.close()


@pytest.mark.parametrize(
    ("text", "status"),
    [
        # The app ran and sent; storing its new state failed: the store's 503.
        ("stop before sending", 503),
        # The app's own store call raised, so the app failed: a 500, as for any app error.
        ("stop, then broadcast", 500),
    ],
)
def test_a_store_stopped_during_message_is_a_clean_error_and_the_connection_lives_on(
    store: FaultyStore, connections_api: ConnectionsApiDouble, text: str, status: int
) -> None:
    lifespans: list[str] = []
    handler = adapter(store, connections_api, lifespans)
    connection, _ = ids()
    assert serve(handler, connect_event(connection)) == {"statusCode": 200}
    assert serve(handler, message_event(connection, "one")) == {"statusCode": 200}

    response = serve(handler, message_event(connection, text))

    assert not store.running
    assert response["statusCode"] == status
    store.start()
    # The record is as the last good event left it: nothing of the failed event was half-stored.
    record = from_dsn(store.dsn).load(connection)
    assert record is not None
    assert record.state == {"count": 1}
    assert from_dsn(store.dsn).rooms(connection) == [ROOM]
    # The same Adapter serves the connection again, from the stored state.
    assert serve(handler, message_event(connection, "two")) == {"statusCode": 200}
    # A frame the app sent before the failure was delivered: @connections was up.
    sent_during = [b"#2: stop before sending"] if text == "stop before sending" else []
    assert connections_api.sent(connection) == [b"#1: one", *sent_during, b"#2: two"]
    assert lifespans == ["startup"]
    handler.close()


def test_a_restart_between_events_needs_no_new_adapter(
    store: FaultyStore, connections_api: ConnectionsApiDouble
) -> None:
    lifespans: list[str] = []
    handler = adapter(store, connections_api, lifespans)
    backend = store_of(handler)
    connection, _ = ids()
    assert serve(handler, connect_event(connection)) == {"statusCode": 200}
    assert serve(handler, message_event(connection, "one")) == {"statusCode": 200}

    # Down between events: an event meanwhile cannot read the record, and says so at once.
    store.stop()
    assert serve(handler, message_event(connection, "while down")) == {
        "statusCode": 503,
        "body": "Service Unavailable",
    }
    store.start()
    assert serve(handler, message_event(connection, "two")) == {"statusCode": 200}
    # Restarted between two events, with no event while it was down: the next one just works.
    store.restart()
    assert serve(handler, message_event(connection, "three")) == {"statusCode": 200}
    assert serve(handler, disconnect_event(connection)) == {"statusCode": 200}

    assert connections_api.sent(connection) == [b"#1: one", b"#2: two", b"#3: three"]
    # No cold start: the same store object reconnected by itself, the lifespan started once,
    # and no close of the connection was asked of @connections.
    assert handler.backend is backend
    assert lifespans == ["startup"]
    assert connections_api.calls_of("DELETE") == []
    assert from_dsn(store.dsn).load(connection) is None
    handler.close()
