"""Running an app call within an event's time, and leaving nothing of it running afterwards.

An event must never outlive its Lambda invocation: an app that loops, ignores cancellation or
starts tasks of its own is cut off in time for the adapter to answer, and whatever it left
running is cancelled so it cannot wake up inside a later event of the same warm container.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

logger = logging.getLogger("asgiway")

#: The most an app may spend unwinding (finally blocks, Starlette's `on_disconnect`) once cut off.
UNWIND_SECONDS = 1.0

#: The tasks each loop created, oldest first (see `_tasks_created_on`).
_created: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[asyncio.Task[Any]]] = (
    weakref.WeakKeyDictionary()
)


class SessionEnd(enum.Enum):
    """Why an app's call for one event ended."""

    RETURNED = "returned"
    WAITING = "waiting"  # the app waits for input this event cannot give: a WebSocket session's end
    RAISED = "raised"
    TIMED_OUT = "timed out"


def unwind_seconds(timeout: float) -> float:
    """How long an app cut off at the end of a `timeout`-second run may spend unwinding."""
    return min(UNWIND_SECONDS, timeout / 4)


def call_seconds(timeout: float) -> float:
    """How long the app's call runs within a `timeout`-second run before it is cut off."""
    return max(timeout - unwind_seconds(timeout), 0)


def _tasks_created_on(loop: asyncio.AbstractEventLoop) -> list[asyncio.Task[Any]]:
    """The tasks `loop` has created since it was first asked about, oldest first.

    A task factory records each new task once, so `run_bounded` finds an event's strays without
    `asyncio.all_tasks()`, whose walk over every task, twice per event, cost about a fifth of the
    adapter's time per HTTP event. Events run only on the Adapter's own loop, so the factory
    displaces none of anyone else's.
    """
    created = _created.get(loop)
    if created is not None:
        return created
    recorded: list[asyncio.Task[Any]] = []

    def factory(
        loop: asyncio.AbstractEventLoop, coro: Any, context: contextvars.Context | None = None
    ) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, context=context)
        recorded.append(task)
        return task

    loop.set_task_factory(factory)
    _created[loop] = recorded
    return recorded


class IdleWatch(Protocol):
    """Tells when an app waiting for input is done (see `asgiway.protocols.idle`)."""

    def start(
        self,
        root: asyncio.Task[Any],
        live_tasks: Callable[[], list[asyncio.Task[Any]]],
        on_idle: Callable[[], None],
    ) -> None: ...

    def stop(self) -> None: ...


async def run_bounded(
    call: Awaitable[None], timeout: float, idle: IdleWatch | None = None
) -> tuple[SessionEnd, BaseException | None]:
    """Run `call` until it returns, `idle` finds it idle or `timeout` seconds pass, all within `timeout`.

    The call gets `timeout` less its unwinding time; then it and every task it started are cancelled.
    """
    loop = asyncio.get_running_loop()
    run = _BoundedRun(loop, call, timeout)
    first_done = loop.create_future()
    idled = False

    def wake(_: object = None) -> None:
        if not first_done.done():
            first_done.set_result(None)

    def on_idle() -> None:
        nonlocal idled
        idled = True
        wake()

    run.task.add_done_callback(wake)
    run.at_deadline(wake)
    if idle is not None:
        idle.start(run.task, run.live_tasks, on_idle)
    try:
        await first_done
    finally:
        run.stop_deadline()
        run.task.remove_done_callback(wake)
        if idle is not None:
            idle.stop()
    end, error, strays = run.outcome(idled, ignore=(asyncio.current_task(),))
    if strays:
        await _cancel(strays, run.unwind)
    return run.checked(end, error)


def run_bounded_on(
    loop: asyncio.AbstractEventLoop, call: Awaitable[None], timeout: float
) -> tuple[SessionEnd, BaseException | None]:
    """`run_bounded` for a caller outside `loop`: the loop runs the app's task and nothing around it.

    This is the HTTP path's: the loop waits on the app's task itself, and the deadline stops the
    loop, so an event costs no task, future or loop turn beyond the app's own.
    """
    run = _BoundedRun(loop, call, timeout)
    run.at_deadline(loop.stop)
    try:
        loop.run_until_complete(run.task)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: S110 - the app's failure, or the deadline's stop: outcome() says which
        pass
    finally:
        run.stop_deadline()
    end, error, strays = run.outcome(idled=False, ignore=())
    if strays:
        loop.run_until_complete(_cancel(strays, run.unwind))
    return run.checked(end, error)


class _BoundedRun:
    """One bounded run of an app call: started at once, waited on by either function above."""

    def __init__(self, loop: asyncio.AbstractEventLoop, call: Awaitable[None], timeout: float) -> None:
        self.loop = loop
        self.unwind = unwind_seconds(timeout)
        self._cutoff = call_seconds(timeout)
        self._created = _tasks_created_on(loop)
        self._mark = len(self._created)
        self.task = asyncio.ensure_future(call, loop=loop)
        self._deadline: asyncio.TimerHandle | None = None

    def at_deadline(self, callback: Callable[[], object]) -> None:
        """Call `callback` when the call's time, less its unwinding time, is up."""
        self._deadline = self.loop.call_later(self._cutoff, callback)

    def live_tasks(self) -> list[asyncio.Task[Any]]:
        """The unfinished tasks of the call: its own and those it started since."""
        return [task for task in self._created[self._mark :] if not task.done()]

    def stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()

    def outcome(
        self, idled: bool, ignore: tuple[asyncio.Future[Any] | None, ...]
    ) -> tuple[SessionEnd, BaseException | None, set[asyncio.Task[Any]]]:
        """Why the call ended, and the tasks it left running (to cancel), but those in `ignore`."""
        if self.task.done():
            end, error = _outcome(self.task)
        else:
            end, error = (SessionEnd.WAITING if idled else SessionEnd.TIMED_OUT), None
        started_since = self._created[self._mark :]
        del self._created[self._mark :]
        strays = {task for task in started_since if not task.done() and task not in ignore}
        return end, error, strays

    def checked(
        self, end: SessionEnd, error: BaseException | None
    ) -> tuple[SessionEnd, BaseException | None]:
        """A call that failed while its strays were cancelled failed, whatever it looked like before."""
        task = self.task
        if task.done() and end is not SessionEnd.RAISED and not task.cancelled() and task.exception():
            return SessionEnd.RAISED, task.exception()
        return end, error


async def _cancel(strays: set[asyncio.Task[Any]], unwind: float) -> None:
    for stray in strays:
        stray.cancel()
    _, pending = await asyncio.wait(strays, timeout=unwind)
    if pending:
        logger.warning("%d task(s) of the app ignored cancellation at the end of the event", len(pending))


def _outcome(task: asyncio.Future[None]) -> tuple[SessionEnd, BaseException | None]:
    if task.cancelled():
        # The app's own code cancelled it (an awaited task cancelled elsewhere): a failure of the app.
        return SessionEnd.RAISED, asyncio.CancelledError("the app's task was cancelled")
    error = task.exception()
    return (SessionEnd.RAISED if error else SessionEnd.RETURNED), error
