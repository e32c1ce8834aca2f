"""When one event's WebSocket session is over: the app waits for input and nothing of it is at work.

On a server a session lasts as long as its connection; here it lasts one API Gateway event, so
asgiway must tell when the app has done all it will do with the event's input. The session ends
once the app is idle, checked each time the event loop has nothing else to run:

1. a task of the app waits for input the event cannot give: `receive()` with nothing left, or a
   channel layer's receive with no message left (see `asgiway.contrib.channels`);
2. no `send` is in flight, so none is ever cancelled half-way;
3. no task of the app can run (the loop has nothing ready);
4. either the app's own task is the one waiting for input, or every task of the app is *parked*.

The fourth point tells two kinds of app apart. One that reads only when it is ready (Starlette,
FastAPI, Litestar: the task asgiway started calls `receive()` itself) is done as soon as that task
asks for input; tasks it left running are background work, cancelled as before once their sends
are through, so it waits no longer than before (bench/frameworks.py measures each check). One with
a read-ahead reader (Quart, whose reader task takes the frame and asks for the next one at once,
while a handler task still has the frame to deal with; Django Channels, whose consumer reads from
child tasks) is done only when every one of its tasks is parked where nothing but new input can
wake it: waiting for input, for others of its tasks (`await task`, `asyncio.wait` without a
timeout, `gather`, a TaskGroup's end), or on an `asyncio.Queue` or `asyncio.Event` hand-off
between its tasks (also through an async generator). A task that waits on anything else (a sync
handler's thread, a timer, the network) is at work, and the session waits for it, within the
event's deadline. No wake-up from a thread, a timer or a socket is reported to asgiway, so an app
found at work that way is looked at again every RECHECK_SECONDS; its sends and its input waits,
which asgiway sees, are looked at again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import types
from collections.abc import Callable, Iterator
from typing import Any

#: How soon an app found at work on something asgiway cannot see end (a thread, a timer, the
#: network) is looked at again.
RECHECK_SECONDS = 0.002


#: Where a suspended task can only be woken by another task of the app (or by new input), as
#: (module, function): hand-offs between tasks, and waits for child tasks to finish.
_PARKING_PLACES = frozenset(
    {
        ("asyncio.queues", "Queue.get"),
        ("asyncio.locks", "Event.wait"),
        ("asyncio.taskgroups", "TaskGroup.__aexit__"),
        ("anyio._backends._asyncio", "TaskGroup.__aexit__"),  # Starlette's and Litestar's task groups
    }
)
#: asyncio.wait's inner coroutine: parked when it was given no timeout (a timeout is a timer).
_ASYNCIO_WAIT = ("asyncio.tasks", "_wait")


class SessionActivity:
    """What the app does with one session: its waits for input and its sends in flight; it calls
    `on_idle` (given to `start`) the first time the app is idle, as the module docstring says."""

    def __init__(self) -> None:
        self._input_waits: set[asyncio.Future[None]] = set()
        self._sends = 0
        self._root: asyncio.Task[Any] | None = None
        self._live_tasks: Callable[[], list[asyncio.Task[Any]]] = list
        self._on_idle: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._probe_pending = False
        self._recheck: asyncio.TimerHandle | None = None
        #: Where the app's tasks were at work when the session was cut off while it waited for input
        #: (to say why an event ran out of time), e.g. "load_user (app.py:12)".
        self.at_work: list[str] = []

    def start(
        self,
        root: asyncio.Task[Any],
        live_tasks: Callable[[], list[asyncio.Task[Any]]],
        on_idle: Callable[[], None],
    ) -> None:
        """Watch the app whose call runs as `root`; `live_tasks` lists the unfinished tasks it started
        (`root` included)."""
        self._root, self._live_tasks, self._on_idle = root, live_tasks, on_idle
        self._loop = root.get_loop()
        self._arm()

    def stop(self) -> None:
        if self._on_idle is not None and self._input_waits:
            self.at_work = self._describe_work()
        self._on_idle = None
        if self._recheck is not None:
            self._recheck.cancel()

    async def wait_for_input(self, arrival: asyncio.Future[None] | None = None) -> None:
        """Wait for input: until `arrival` is done (set by whoever brings the input), or, without
        it, until the session ends, which cancels the wait. The session may end while it lasts."""
        future = arrival if arrival is not None else asyncio.get_running_loop().create_future()
        self._input_waits.add(future)
        self._arm()
        try:
            await future
        finally:
            self._input_waits.discard(future)

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """Around a frame's delivery: the session does not end while one is in flight."""
        self._sends += 1
        try:
            yield
        finally:
            self._sends -= 1
            self._arm()

    def noticed(self) -> None:
        """The app did something that may leave it idle (it answered the handshake, say)."""
        self._arm()

    def _arm(self) -> None:
        """Look at the app once the loop has run what is ready now."""
        if self._on_idle is None or self._probe_pending or self._loop is None:
            return
        self._probe_pending = True
        self._loop.call_soon(self._probe)

    def _probe(self) -> None:
        self._probe_pending = False
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
        if self._on_idle is None or not self._input_waits:
            return  # over, or nobody waits for input: the next wait for input looks again
        if _has_ready_callbacks(self._loop):
            self._arm()  # something can still run: look once it has
            return
        if self._idle():
            on_idle, self._on_idle = self._on_idle, None
            on_idle()
        elif not self._sends and self._loop is not None:
            # At work on something no callback reports the end of; a send's end is reported.
            self._recheck = self._loop.call_later(RECHECK_SECONDS, self._arm)

    def _idle(self) -> bool:
        if self._sends:
            return False
        tasks = self._live_tasks()
        if any(_runnable(task) for task in tasks):
            return False
        if self._root is not None and _waiter(self._root) in self._input_waits:
            return True  # it reads only when it is ready: what else it started is background work
        owned = set(tasks)
        return all(self._parked(task, owned) for task in tasks)

    def _describe_work(self) -> list[str]:
        tasks = self._live_tasks()
        owned = set(tasks)
        described = []
        for task in tasks:
            if self._parked(task, owned) and not _runnable(task):
                continue
            frame = _innermost_frame(task)
            where = f"{frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})" if frame else "?"
            described.append(where)
        return described

    def _parked(self, task: asyncio.Task[Any], owned: set[asyncio.Task[Any]]) -> bool:
        """Whether only new input or another task of the app can wake `task`."""
        waiter = _waiter(task)
        if waiter in self._input_waits or waiter in owned:
            return True
        children: Any = getattr(waiter, "_children", None)  # asyncio.gather's future
        if isinstance(children, list) and children and all(child in owned for child in children):
            return True
        frame = _innermost_frame(task)
        if frame is None:
            return False
        place = (frame.f_globals.get("__name__"), frame.f_code.co_qualname)
        if place == _ASYNCIO_WAIT:
            return frame.f_locals.get("timeout") is None
        return place in _PARKING_PLACES


def _waiter(task: asyncio.Task[Any]) -> object:
    """The future a suspended task waits on (None while it is ready to run)."""
    return getattr(task, "_fut_waiter", None)


def _runnable(task: asyncio.Task[Any]) -> bool:
    waiter = _waiter(task)
    return not isinstance(waiter, asyncio.Future) or waiter.done()


def _has_ready_callbacks(loop: asyncio.AbstractEventLoop | None) -> bool:
    """Whether the loop will run something before it next waits for I/O or a timer."""
    return bool(getattr(loop, "_ready", None))


def _innermost_frame(task: asyncio.Task[Any]) -> types.FrameType | None:
    """The frame of the innermost coroutine (or async generator) `task` is suspended in."""
    awaited: Any = task.get_coro()
    frame: types.FrameType | None = None
    while awaited is not None:
        inner = next(
            (found for name in _FRAMES if isinstance(found := getattr(awaited, name, None), types.FrameType)),
            None,
        )
        if inner is None:
            awaited = _async_generator_behind(awaited)
            continue
        frame = inner
        awaited = next((found for name in _AWAITED if (found := getattr(awaited, name, None))), None)
    return frame


#: Where coroutines, generators and async generators keep their frame, and what they await.
_FRAMES = ("cr_frame", "gi_frame", "ag_frame")
_AWAITED = ("cr_await", "gi_yieldfrom", "ag_await")


def _async_generator_behind(awaitable: object) -> object:
    """The async generator an `async for` step awaits (`agen.__anext__()`'s object exposes none of
    its own, but holds it), or None for anything else."""
    if type(awaitable).__name__ not in ("async_generator_asend", "async_generator_athrow"):
        return None
    return next((found for found in gc.get_referents(awaitable) if inspect.isasyncgen(found)), None)
