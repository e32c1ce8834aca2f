"""The lean per-event path keeps its guarantees: one cutoff timer per loop still cuts every event
at its own deadline, nothing is kept from one event to the next, and a source's module loads with
its first event."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import weakref
from typing import Any

from asgiway import Adapter
from asgiway.protocols.bounded import SessionEnd, run_bounded_on
from asgiway.testing import LambdaContextStub, http_event


async def sleeps_on_slow_paths(scope: Any, receive: Any, send: Any) -> None:
    """Answers at once, but only after `?seconds=` seconds on /slow."""
    if scope["type"] != "http":
        return
    if scope["path"] == "/slow":
        await asyncio.sleep(float(scope["query_string"].decode().partition("=")[2]))
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


def slow_event(seconds: float) -> dict[str, Any]:
    event = http_event("GET", "/slow")
    event["rawQueryString"] = f"seconds={seconds}"
    return event


def test_an_event_with_an_earlier_cutoff_than_the_armed_one_is_cut_at_its_own() -> None:
    handler = Adapter(sleeps_on_slow_paths, lifespan="off")
    # The first event leaves the loop's timer armed about 29 s ahead.
    assert handler(http_event("GET", "/"), LambdaContextStub(timeout_seconds=30))["statusCode"] == 200
    assert handler(slow_event(60), LambdaContextStub(timeout_seconds=1.5))["statusCode"] == 504


def test_a_timer_armed_for_an_earlier_event_does_not_cut_a_later_one_short() -> None:
    """The first event's cutoff (about 1 s) falls while the second works for 2 s of its 30."""
    handler = Adapter(sleeps_on_slow_paths, lifespan="off")
    assert handler(http_event("GET", "/"), LambdaContextStub(timeout_seconds=1.5))["statusCode"] == 200
    assert handler(slow_event(2), LambdaContextStub(timeout_seconds=30))["statusCode"] == 200


def test_the_app_still_runs_its_own_task_and_the_answer_comes_back() -> None:
    loop = asyncio.new_event_loop()

    async def answer() -> str:
        return "answered"

    try:
        assert run_bounded_on(loop, answer(), 5) == (SessionEnd.RETURNED, None, "answered")
    finally:
        loop.close()


def test_tasks_made_outside_a_bounded_run_are_not_kept() -> None:
    """Each WebSocket event's top-level task runs outside the app's bounded run: once done, nothing
    may hold it (it once stayed on the loop's task record, about 1 KB per event)."""
    loop = asyncio.new_event_loop()

    async def nothing() -> None:
        return None

    try:
        run_bounded_on(loop, nothing(), 5)  # installs the loop's task factory
        task = loop.create_task(nothing())
        loop.run_until_complete(task)
        kept = weakref.ref(task)
        del task
        gc.collect()
        assert kept() is None
    finally:
        loop.close()


def test_a_source_module_loads_with_its_first_event_and_the_others_never() -> None:
    script = (
        "import sys\n"
        "from asgiway import Adapter\n"
        "from asgiway.testing import LambdaContextStub, http_event\n"
        "async def app(scope, receive, send):\n"
        "    await send({'type': 'http.response.start', 'status': 204, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': b''})\n"
        "handler = Adapter(app, lifespan='off')\n"
        "names = ('alb', 'api_gateway_v1', 'api_gateway_v2', 'lambda_edge', 'websocket')\n"
        "sources = lambda: [n for n in names if f'asgiway.sources.{n}' in sys.modules]\n"
        "print(sources())\n"
        "assert handler(http_event('GET', '/'), LambdaContextStub())['statusCode'] == 204\n"
        "print(sources())\n"
    )
    before, after = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert (before, after) == ("[]", "['api_gateway_v2']")
