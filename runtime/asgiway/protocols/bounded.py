"""Running an app call within an event's time, and leaving nothing of it running afterwards.

An event must never outlive its Lambda invocation: an app that loops, ignores cancellation or
starts tasks of its own is cut off in time for the adapter to answer, and whatever it left
running is cancelled so it cannot wake up inside a later event of the same warm container.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable
from typing import Any

logger = logging.getLogger("asgiway")

#: The most an app may spend unwinding (finally blocks, Starlette's `on_disconnect`) once cut off.
UNWIND_SECONDS = 1.0


class SessionEnd(enum.Enum):
    """Why an app's call for one event ended."""

    RETURNED = "returned"
    WAITING = "waiting"  # the app waits for input this event cannot give: a WebSocket session's end
    RAISED = "raised"
    TIMED_OUT = "timed out"


async def run_bounded(
    call: Awaitable[None], timeout: float, idle: asyncio.Event | None = None
) -> tuple[SessionEnd, BaseException | None]:
    """Run `call` until it returns, `idle` is set or `timeout` seconds pass, all within `timeout`.

    The call gets `timeout` less its unwinding time; then it and every task it started are cancelled.
    """
    unwind = min(UNWIND_SECONDS, timeout / 4)
    before = asyncio.all_tasks()
    task = asyncio.ensure_future(call)
    waiters: set[asyncio.Future[Any]] = {task}
    idle_wait = asyncio.ensure_future(idle.wait()) if idle is not None else None
    if idle_wait is not None:
        waiters.add(idle_wait)
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout - unwind, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if idle_wait is not None:
            idle_wait.cancel()
    if task in done:
        end, error = _outcome(task)
    else:
        end, error = (SessionEnd.WAITING if idle_wait in done else SessionEnd.TIMED_OUT), None
    strays = {
        t for t in asyncio.all_tasks() - before if t is not asyncio.current_task() and t is not idle_wait
    }
    for stray in strays:
        stray.cancel()
    if strays:
        _, pending = await asyncio.wait(strays, timeout=unwind)
        if pending:
            logger.warning("%d task(s) of the app ignored cancellation at the end of the event", len(pending))
    if task.done() and end is not SessionEnd.RAISED and not task.cancelled() and task.exception():
        end, error = SessionEnd.RAISED, task.exception()
    return end, error


def _outcome(task: asyncio.Future[None]) -> tuple[SessionEnd, BaseException | None]:
    if task.cancelled():
        # The app's own code cancelled it (an awaited task cancelled elsewhere): a failure of the app.
        return SessionEnd.RAISED, asyncio.CancelledError("the app's task was cancelled")
    error = task.exception()
    return (SessionEnd.RAISED if error else SessionEnd.RETURNED), error
