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
import math
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

logger = logging.getLogger("asgiway")

#: The most an app may spend unwinding (finally blocks, Starlette's `on_disconnect`) once cut off.
UNWIND_SECONDS = 1.0

#: Each loop's record of the tasks created during bounded runs (see `_task_record_of`).
_records: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _TaskRecord] = weakref.WeakKeyDictionary()
#: Each loop's one timer for `run_bounded_on` (see `_CutoffTimer`).
_cutoff_timers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _CutoffTimer] = (
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


class _TaskRecord:
    """The tasks a loop created while a bounded run was open on it, oldest first.

    Only then: a task made outside every run (each WebSocket event's top-level task, the
    lifespan's) is no run's business, and recording it kept it, its coroutine and its result for
    the container's life, about 1 KB per WebSocket event (bench table 10).
    """

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []
        self.open_runs = 0


def _task_record_of(loop: asyncio.AbstractEventLoop) -> _TaskRecord:
    """`loop`'s task record, its task factory installed at the first call.

    The factory records each new task once, so `run_bounded` finds an event's strays without
    `asyncio.all_tasks()`, whose walk over every task, twice per event, cost about a fifth of the
    adapter's time per HTTP event. Events run only on the Adapter's own loop, so the factory
    displaces none of anyone else's.
    """
    record = _records.get(loop)
    if record is not None:
        return record
    new_record = _TaskRecord()

    def factory(
        loop: asyncio.AbstractEventLoop, coro: Any, context: contextvars.Context | None = None
    ) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, context=context)
        if new_record.open_runs:
            new_record.tasks.append(task)
        return task

    loop.set_task_factory(factory)
    _records[loop] = new_record
    return new_record


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
        run.stop_recording()
    end, error, strays = run.outcome(idled, ignore=(asyncio.current_task(),))
    if strays:
        await _cancel(strays, run.unwind)
    return run.checked(end, error)


def run_bounded_on(
    loop: asyncio.AbstractEventLoop, call: Coroutine[Any, Any, T], timeout: float
) -> tuple[SessionEnd, BaseException | None, T | None]:
    """`run_bounded` for a caller outside `loop`, with what `call` returned (None unless RETURNED).

    This is the HTTP path's, with one deadline mechanism: the loop waits on the app's task itself
    and a single timer stops the loop, so an event costs no wrapper coroutine, task, future or
    loop turn beyond the app's own.
    """
    run = _BoundedRun(loop, call, timeout)
    cutoff_timer = _cutoff_timers.get(loop) or _cutoff_timers.setdefault(loop, _CutoffTimer(loop))
    cutoff_timer.arm(loop.time() + run.cutoff)
    try:
        loop.run_until_complete(run.task)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: S110 - the app's failure, or the deadline's stop: outcome() says which
        pass
    finally:
        cutoff_timer.disarm()
        run.stop_recording()
    end, error, strays = run.outcome(idled=False, ignore=())
    if strays:
        loop.run_until_complete(_cancel(strays, run.unwind))
    end, error = run.checked(end, error)
    return end, error, run.task.result() if end is SessionEnd.RETURNED else None


class _CutoffTimer:
    """One loop's cutoff for `run_bounded_on`: a single timer that outlives the events it serves.

    Scheduling and cancelling a timer per event was a tenth of the adapter's time per HTTP event.
    Instead the running event's cutoff is a number, and the timer, armed at some cutoff not later
    than it, stops the loop when it fires at or after that number, or re-arms itself at it.
    Cutoffs grow from event to event (each is "now" plus a similar timeout), so an event usually
    finds the timer armed early enough already and schedules nothing; it re-arms only for an
    earlier cutoff than the armed one, and the timer fires at most once per event timeout. Between
    events, and while `run_bounded` serves WebSocket events on the same loop, the cutoff is
    infinite and a firing timer does nothing.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._cutoff = math.inf
        self._timer: asyncio.TimerHandle | None = None

    def arm(self, cutoff: float) -> None:
        """Stop the loop at `cutoff` (on `loop.time()`), unless `disarm` comes first."""
        self._cutoff = cutoff
        if self._timer is None or self._timer.when() > cutoff:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(cutoff, self._fire)

    def disarm(self) -> None:
        self._cutoff = math.inf

    def _fire(self) -> None:
        self._timer = None
        if self._cutoff == math.inf:
            return
        if self._loop.time() >= self._cutoff:
            self._loop.stop()
        else:  # armed for an earlier event: wait for this one's cutoff
            self._timer = self._loop.call_at(self._cutoff, self._fire)


class _BoundedRun:
    """One bounded run of an app call: started at once, waited on by either function above."""

    def __init__(self, loop: asyncio.AbstractEventLoop, call: Awaitable[Any], timeout: float) -> None:
        self.loop = loop
        self.unwind = unwind_seconds(timeout)
        #: Seconds from now until the call is cut off.
        self.cutoff = call_seconds(timeout)
        self._record = _task_record_of(loop)
        self._mark = len(self._record.tasks)
        self._started: list[asyncio.Task[Any]] | None = None
        self._record.open_runs += 1
        try:
            # create_task straight away for the usual coroutine: ensure_future's checks cost more.
            if asyncio.iscoroutine(call):
                self.task = loop.create_task(call)
            else:
                self.task = asyncio.ensure_future(call, loop=loop)
        except BaseException:
            self._record.open_runs -= 1
            raise
        self._deadline: asyncio.TimerHandle | None = None

    def at_deadline(self, callback: Callable[[], object]) -> None:
        """Call `callback` when the call's time, less its unwinding time, is up."""
        self._deadline = self.loop.call_later(self.cutoff, callback)

    def live_tasks(self) -> list[asyncio.Task[Any]]:
        """The unfinished tasks of the call: its own and those it started since."""
        return [task for task in self._record.tasks[self._mark :] if not task.done()]

    def stop_recording(self) -> None:
        """Take the tasks started since the run began off the loop's record; once, however the
        run ended (the caller's own cancellation included), so the record never keeps them."""
        if self._started is None:
            self._record.open_runs -= 1
            self._started = self._record.tasks[self._mark :]
            del self._record.tasks[self._mark :]

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
        self.stop_recording()
        strays = {task for task in self._started or () if not task.done() and task not in ignore}
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
