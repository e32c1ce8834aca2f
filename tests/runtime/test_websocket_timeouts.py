"""MESSAGE and DISCONNECT events whose app never finishes: a 504 within the Lambda's time.

Each app here hangs for good once it has the event's message, so its event can only end by the
deadline: however loaded the machine, the outcome is the same, and no test measures time. The
Lambda context leaves 1.5 s, of which the adapter keeps 0.5 s to answer in and the app gets
three quarters of the rest; a slow machine only moves the cut, never the answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

import pytest

from asgiway import Adapter
from asgiway.backends import ConnectionRecord, Dsn, from_dsn
from asgiway.backends.sqlite import SQLiteBackend
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    message_event,
)

CONNECTION = "Tt5=Oo6="
#: Little of the Lambda's time left, so that an app's deadline comes within a second or so.
SHORT = 1.5


class HangsOn:
    """An app that accepts, then, at the event whose message has type `kind`, waits on something
    that never comes. It records every message it was given."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.received: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        self.received.append(message)
        if message["type"] == self.kind:
            await asyncio.Event().wait()  # nothing sets it: only the deadline ends this event


def connected(app: Any, dsn: str, api: ConnectionsApiDouble) -> Adapter:
    handler = Adapter(app, dsn=dsn, api_gateway_endpoint_url=api.endpoint_url, lifespan="off")
    assert handler(connect_event(CONNECTION), LambdaContextStub()) == {"statusCode": 200}
    return handler


def test_a_message_whose_app_hangs_answers_504_and_the_client_stays_connected(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    app = HangsOn("websocket.receive")
    handler = connected(app, dsn, connections_api)

    with caplog.at_level(logging.ERROR, logger="asgiway"):
        reply = handler(message_event(CONNECTION, "stuck"), LambdaContextStub(timeout_seconds=SHORT))

    assert reply == {"statusCode": 504, "body": "Gateway Timeout"}
    assert app.received == [{"type": "websocket.receive", "text": "stuck"}]
    assert f"The app did not finish MESSAGE of {CONNECTION} within" in caplog.text
    # Nothing closed the client through @connections, and its record is kept.
    assert connections_api.calls_of("DELETE") == []
    assert from_dsn(dsn).load(CONNECTION) is not None
    # The connection goes on: its next MESSAGE and its DISCONNECT are served as usual.
    app.kind = "none of them"
    assert handler(message_event(CONNECTION, "again"), LambdaContextStub()) == {"statusCode": 200}
    assert handler(disconnect_event(CONNECTION), LambdaContextStub()) == {"statusCode": 200}
    assert app.received[1:] == [
        {"type": "websocket.receive", "text": "again"},
        {"type": "websocket.disconnect", "code": 1000, "reason": ""},
    ]


def test_a_disconnect_whose_app_hangs_answers_504_and_the_record_is_deleted_anyway(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    app = HangsOn("websocket.disconnect")
    handler = connected(app, dsn, connections_api)

    with caplog.at_level(logging.ERROR, logger="asgiway"):
        reply = handler(disconnect_event(CONNECTION, code=1001), LambdaContextStub(timeout_seconds=SHORT))

    assert reply == {"statusCode": 504, "body": "Gateway Timeout"}
    assert app.received == [{"type": "websocket.disconnect", "code": 1001, "reason": ""}]
    assert f"The app did not finish DISCONNECT of {CONNECTION} within" in caplog.text
    assert from_dsn(dsn).load(CONNECTION) is None
    # A MESSAGE that still arrives finds no connection: 410, and the client is closed.
    assert handler(message_event(CONNECTION, "late"), LambdaContextStub())["statusCode"] == 410


def test_websocket_events_are_cut_at_api_gateways_timeout_not_lambdas(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """API Gateway gives up on a WebSocket integration after its timeout whatever Lambda's own is:
    a 1 s `api_gateway_timeout` ends the event though 30 s of Lambda time are left."""
    app = HangsOn("websocket.receive")
    handler = Adapter(
        app,
        dsn=dsn,
        api_gateway_endpoint_url=connections_api.endpoint_url,
        lifespan="off",
        api_gateway_timeout=1.0,
    )
    assert handler(connect_event(CONNECTION), LambdaContextStub()) == {"statusCode": 200}
    reply = handler(message_event(CONNECTION, "wait"), LambdaContextStub(timeout_seconds=30))
    assert reply["statusCode"] == 504


class SlowToRead(SQLiteBackend):
    """A store whose read takes a second, as a distant or throttled one can."""

    def load(self, connection_id: str) -> ConnectionRecord | None:
        time.sleep(1.0)
        return super().load(connection_id)


def test_time_spent_before_the_app_comes_out_of_the_apps_time(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    """The event's deadline is fixed when the handler reads the Lambda's remaining time: a slow
    store read before the app shortens the app's time, so the answer never comes after it."""
    app = HangsOn("websocket.receive")
    handler = connected(app, dsn, connections_api)
    handler.backend = SlowToRead.from_dsn(Dsn.parse(dsn))
    with caplog.at_level(logging.ERROR, logger="asgiway"):
        reply = handler(message_event(CONNECTION, "wait"), LambdaContextStub(timeout_seconds=3.0))
    assert reply["statusCode"] == 504
    # 3 s left, less the 0.5 s margin, less the second the read took: at most 1.5 s for the app.
    (given,) = re.findall(r"within ([0-9.]+)s", caplog.text)
    assert float(given) <= 1.5
