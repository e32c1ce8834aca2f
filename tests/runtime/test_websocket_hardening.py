"""Apps that misbehave in subtler ways: cancelled tasks, stray tasks, in-place state, deadlines."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import pytest
from fastapi import FastAPI, WebSocket

from asgiway import Adapter, LifespanError
from asgiway.backends import from_dsn
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    http_event,
    message_event,
)
from tests.runtime.wsapps import ANSWER_MARGIN_SECONDS, on_virtual_clock

CONNECTION = "Hh7=Jj8="


def serve(app: Any, dsn: str, api: ConnectionsApiDouble) -> Adapter:
    return Adapter(app, dsn=dsn, api_gateway_endpoint_url=api.endpoint_url, lifespan="off")


def test_an_app_whose_own_task_is_cancelled_gets_500_not_a_traceback(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        helper = asyncio.ensure_future(asyncio.sleep(10))
        asyncio.get_running_loop().call_soon(helper.cancel)
        await helper

    assert serve(app, dsn, connections_api)(connect_event(CONNECTION)) == {
        "statusCode": 500,
        "body": "Internal Server Error",
    }


def test_a_stubborn_app_is_answered_within_the_lambdas_time(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    async def stubborn(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue

    handler, clock = on_virtual_clock(lambda: serve(stubborn, dsn, connections_api))
    reply = handler(connect_event(CONNECTION), LambdaContextStub(timeout_seconds=2))
    assert reply["statusCode"] == 504
    # By the loop's own clock, which no load slows: the app's unwinding time was bounded too.
    assert clock.time() <= 2 - ANSWER_MARGIN_SECONDS


def test_tasks_the_app_left_running_do_not_wake_in_a_later_event(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    wake: list[asyncio.Event] = []
    woken: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        if not wake:
            wake.append(asyncio.Event())

            async def later() -> None:
                await wake[0].wait()
                woken.append("leftover")
                await send({"type": "websocket.send", "text": "late"})

            scope["leftover"] = asyncio.ensure_future(later())
        else:
            wake[0].set()  # a task left over from the first event is ready to run now...
            await asyncio.sleep(0)  # ...and would run before this task resumes: ready tasks take turns
        await send({"type": "websocket.send", "text": message["text"]})
        await receive()

    handler = serve(app, dsn, connections_api)
    handler(connect_event(CONNECTION), LambdaContextStub())
    handler(message_event(CONNECTION, "first"), LambdaContextStub())
    handler(message_event(CONNECTION, "second"), LambdaContextStub())
    assert woken == []
    assert connections_api.sent(CONNECTION) == [b"first", b"second"]


def test_state_changed_in_place_is_stored(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        scope["state"].setdefault("history", [])
        message = await receive()
        scope["state"]["history"].append(message["text"])
        await receive()

    handler = serve(app, dsn, connections_api)
    handler(connect_event(CONNECTION), LambdaContextStub())
    for text in ("a", "b", "c"):
        handler(message_event(CONNECTION, text), LambdaContextStub())
    record = from_dsn(dsn).load(CONNECTION)
    assert record is not None
    assert record.state == {"history": ["a", "b", "c"]}


def test_state_that_cannot_be_stored_is_left_out_by_key(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        scope["state"].update(name="ada", ratio=math.nan, when=object(), pair=(1, 2))
        await receive()

    assert serve(app, dsn, connections_api)(connect_event(CONNECTION))["statusCode"] == 200
    record = from_dsn(dsn).load(CONNECTION)
    assert record is not None
    assert record.state == {"name": "ada"}
    for key in ("ratio", "when", "pair"):
        assert f"state {key!r} is not a JSON value" in caplog.text


def test_oversized_state_is_not_stored_and_the_old_state_stays(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        if scope["asgiway.event"] == "connect":
            scope["state"]["name"] = "ada"
        else:
            scope["state"]["blob"] = "x" * 70_000
        await receive()

    handler = serve(app, dsn, connections_api)
    handler(connect_event(CONNECTION), LambdaContextStub())
    assert handler(message_event(CONNECTION, "grow"), LambdaContextStub())["statusCode"] == 200
    record = from_dsn(dsn).load(CONNECTION)
    assert record is not None
    assert record.state == {"name": "ada"}
    assert "exceeds 65536" in caplog.text


def test_a_denial_with_a_success_status_is_refused(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.http.response.start", "status": 200, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"ok"})

    assert serve(app, dsn, connections_api)(connect_event(CONNECTION))["statusCode"] == 403
    assert from_dsn(dsn).load(CONNECTION) is None


def test_fastapis_documented_echo_ends_cleanly_at_disconnect(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    app = FastAPI()

    @app.websocket("/")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            data = await websocket.receive_text()
            await websocket.send_text(f"Message text was: {data}")

    handler = serve(app, dsn, connections_api)
    handler(connect_event(CONNECTION), LambdaContextStub())
    handler(message_event(CONNECTION, "hi"), LambdaContextStub())
    with caplog.at_level(logging.ERROR, logger="asgiway"):
        assert handler(disconnect_event(CONNECTION, code=1001), LambdaContextStub()) == {"statusCode": 200}
    assert caplog.records == []
    assert connections_api.sent(CONNECTION) == [b"Message text was: hi"]


def test_an_http_app_that_swallows_cancellation_is_answered_in_time() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"too late"})

    handler, clock = on_virtual_clock(lambda: Adapter(app, lifespan="off"))
    reply = handler(http_event(), LambdaContextStub(timeout_seconds=2))
    assert reply["statusCode"] == 504
    assert clock.time() <= 2 - ANSWER_MARGIN_SECONDS  # by the loop's own clock, which no load slows


def test_a_hung_lifespan_startup_is_a_clear_error() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await asyncio.sleep(60)

    with pytest.raises(LifespanError, match="did not finish within"):
        Adapter(app, lifespan="on")(http_event(), LambdaContextStub(timeout_seconds=1.5))
