"""When an event's session ends: only once the app is idle (asgiway.protocols.idle).

An app that reads only when it is ready ends its session the moment it asks for input, as before;
one with a read-ahead reader (Quart's shape, written here in raw ASGI) ends it only when its other
tasks are parked too. Neither is ever cut inside a send, or while its sync code runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from asgiway import Adapter
from asgiway.protocols.idle import SessionActivity
from asgiway.testing import ConnectionsApiDouble, LambdaContextStub, connect_event, message_event
from tests.runtime.wsapps import ANSWER_MARGIN_SECONDS, on_virtual_clock

CONNECTION = "Rr5=Tt6="


def serve(app: Any, dsn: str, api: ConnectionsApiDouble) -> Adapter:
    return Adapter(app, dsn=dsn, api_gateway_endpoint_url=api.endpoint_url, lifespan="off")


def read_ahead(handler: Any) -> Any:
    """An app shaped as Quart's: a reader task takes each frame and asks for the next at once,
    while `handler(queue, send)`, a task of its own, deals with the frames it finds in the queue."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        queue: asyncio.Queue[str] = asyncio.Queue()

        async def reader() -> None:
            while True:
                message = await receive()
                if message["type"] == "websocket.receive":
                    await queue.put(message["text"])
                elif message["type"] == "websocket.disconnect":
                    return

        tasks = [asyncio.ensure_future(reader()), asyncio.ensure_future(handler(queue, send))]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()

    return app


def test_a_read_ahead_app_is_waited_for_through_timers_and_threads(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """It awaits a timer before it accepts (a 403 if the reader's wait ended CONNECT), then for
    each frame a thread and a timer between its two sends: every frame is answered, once, in order."""

    async def handler(queue: asyncio.Queue[str], send: Any) -> None:
        await asyncio.sleep(0.01)
        await send({"type": "websocket.accept"})
        while True:
            text = await queue.get()
            shout = await asyncio.to_thread(str.upper, text)
            await send({"type": "websocket.send", "text": shout})
            await asyncio.sleep(0.01)
            await send({"type": "websocket.send", "text": shout + "!"})

    handler_ = serve(read_ahead(handler), dsn, connections_api)
    assert handler_(connect_event(CONNECTION), LambdaContextStub()) == {"statusCode": 200}
    for text in ("a", "b", "c"):
        assert handler_(message_event(CONNECTION, text), LambdaContextStub()) == {"statusCode": 200}
    assert connections_api.sent(CONNECTION) == [b"A", b"A!", b"B", b"B!", b"C", b"C!"]


def test_a_send_in_flight_is_never_cut(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    """An app that reads only when ready asks for input while a task of its own is still posting
    a frame (a slow @connections): the session ends once the post is through, so the frame is
    out by the time the event answers."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        message = await receive()
        scope["late"] = asyncio.ensure_future(
            send({"type": "websocket.send", "text": f"late {message['text']}"})
        )
        await receive()

    handler = serve(app, dsn, connections_api)
    handler(connect_event(CONNECTION), LambdaContextStub())
    connections_api.delays[CONNECTION] = 0.2
    assert handler(message_event(CONNECTION, "one"), LambdaContextStub()) == {"statusCode": 200}
    assert connections_api.sent(CONNECTION) == [b"late one"]


def test_sync_code_in_a_thread_keeps_the_session_open(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """A read-ahead app whose handler runs sync code in a thread, which sends through the loop (as
    async_to_sync does) and then works on: the session ends only when the thread is done."""
    finished: list[str] = []

    async def handler(queue: asyncio.Queue[str], send: Any) -> None:
        loop = asyncio.get_running_loop()
        await send({"type": "websocket.accept"})

        def sync_handler(text: str) -> None:
            asyncio.run_coroutine_threadsafe(send({"type": "websocket.send", "text": text}), loop).result()
            time.sleep(0.05)
            finished.append(text)
            asyncio.run_coroutine_threadsafe(send({"type": "websocket.send", "text": "done"}), loop).result()

        while True:
            text = await queue.get()
            await asyncio.to_thread(sync_handler, text)

    handler_ = serve(read_ahead(handler), dsn, connections_api)
    handler_(connect_event(CONNECTION), LambdaContextStub())
    assert handler_(message_event(CONNECTION, "x"), LambdaContextStub()) == {"statusCode": 200}
    assert finished == ["x"]
    assert connections_api.sent(CONNECTION) == [b"x", b"done"]


def test_an_app_that_reads_when_ready_ends_at_once_whatever_it_left_running(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """Its own task asks for input: the session ends without a moment of the loop's clock, and
    the task it left waiting on a timer is cancelled, as before this rule."""
    cancelled: list[str] = []

    async def heartbeat() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append("heartbeat")
            raise

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        scope["heartbeat"] = asyncio.ensure_future(heartbeat())
        await receive()

    handler, clock = on_virtual_clock(lambda: serve(app, dsn, connections_api))
    before = clock.time()
    assert handler(connect_event(CONNECTION), LambdaContextStub()) == {"statusCode": 200}
    assert clock.time() == before
    assert cancelled == ["heartbeat"]


def test_a_read_ahead_app_at_work_forever_is_cut_at_the_deadline_and_says_where(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(queue: asyncio.Queue[str], send: Any) -> None:
        await send({"type": "websocket.accept"})
        await queue.get()
        await asyncio.sleep(3600)  # never idle again within the event

    handler_, clock = on_virtual_clock(lambda: serve(read_ahead(handler), dsn, connections_api))
    handler_(connect_event(CONNECTION), LambdaContextStub())
    with caplog.at_level(logging.ERROR, logger="asgiway"):
        reply = handler_(message_event(CONNECTION, "x"), LambdaContextStub(timeout_seconds=2))
    assert reply["statusCode"] == 504
    assert clock.time() <= 2 * 2 - ANSWER_MARGIN_SECONDS  # both events, each within its own time
    assert "some of its tasks were still at work" in caplog.text
    assert "in sleep" not in caplog.text
    assert "sleep (" in caplog.text


def test_an_input_wait_another_task_ends_is_still_an_input_wait() -> None:
    """The channel layer's receive waits for input that this very session may bring (a message the
    consumer sends to its own channel): while it waits, the session may end; once given, it runs."""

    async def scenario() -> list[str]:
        activity = SessionActivity()
        seen: list[str] = []
        arrival: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def waiter() -> None:
            await activity.wait_for_input(arrival)
            seen.append("given")

        task = asyncio.ensure_future(waiter())
        await asyncio.sleep(0)
        arrival.set_result(None)
        await task
        return seen

    assert asyncio.run(scenario()) == ["given"]


def test_an_anyio_task_group_handing_frames_over_a_memory_stream(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """Starlette's way to read and write at once: a reader and a writer in a task group, frames
    passed through a memory object stream. The writer's wait on the stream is a hand-off between
    the app's tasks, and the task group's end a wait for them: parked, once the reply is out."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        to_writer, from_reader = anyio.create_memory_object_stream[str](10)

        async def reader() -> None:
            while True:
                message = await receive()
                await to_writer.send(message["text"])

        async def writer() -> None:
            async for text in from_reader:
                await anyio.sleep(0.01)
                await send({"type": "websocket.send", "text": text.upper()})

        async with anyio.create_task_group() as group:
            group.start_soon(reader)
            group.start_soon(writer)

    handler = serve(app, dsn, connections_api)
    assert handler(connect_event(CONNECTION), LambdaContextStub()) == {"statusCode": 200}
    for text in ("a", "b"):
        assert handler(message_event(CONNECTION, text), LambdaContextStub()) == {"statusCode": 200}
    assert connections_api.sent(CONNECTION) == [b"A", b"B"]


def test_a_handler_parked_in_an_async_for_over_a_generator(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """Quart's chat tutorial consumes its broker with `async for` over an async generator that
    awaits a queue: parked there too, once the reply is out (not at work until the deadline)."""

    async def frames(queue: asyncio.Queue[str]) -> AsyncIterator[str]:
        while True:
            yield await queue.get()

    async def handler(queue: asyncio.Queue[str], send: Any) -> None:
        await send({"type": "websocket.accept"})
        async for text in frames(queue):
            await send({"type": "websocket.send", "text": text})

    handler_ = serve(read_ahead(handler), dsn, connections_api)
    assert handler_(connect_event(CONNECTION), LambdaContextStub()) == {"statusCode": 200}
    # 200, not the 504 of an app cut at its deadline: the session ended when the handler parked.
    reply = handler_(message_event(CONNECTION, "a"), LambdaContextStub(timeout_seconds=5))
    assert reply == {"statusCode": 200}
    assert connections_api.sent(CONNECTION) == [b"a"]
