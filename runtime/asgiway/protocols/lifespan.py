"""The ASGI `lifespan` protocol, run once per Lambda container.

Startup runs before the container's first event and its state (`scope["state"]`) reaches every
later request; shutdown runs when the container is told to stop. Mangum enters and leaves the
lifespan around every invocation, which reconnects database pools on every request.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from typing import Any

from asgiway.exceptions import LifespanError
from asgiway.types import ASGIApp, LifespanMode, Message

logger = logging.getLogger("asgiway")


class LifespanCycleState(enum.Enum):
    """CONNECTING: not started. STARTED: startup complete, the app runs. UNSUPPORTED: the app
    has no lifespan (mode "auto" only). FAILED: startup or shutdown failed. STOPPED: shut down."""

    CONNECTING = "connecting"
    STARTED = "started"
    UNSUPPORTED = "unsupported"
    FAILED = "failed"
    STOPPED = "stopped"


class LifespanCycle:
    """Drives an app's lifespan: `startup()` once, `shutdown()` at the end of the container."""

    def __init__(self, app: ASGIApp, mode: LifespanMode) -> None:
        self.app = app
        self.mode = mode
        self.state = LifespanCycleState.CONNECTING
        #: What the app stores during startup; each request gets a shallow copy.
        self.app_state: dict[str, Any] = {}
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._answered = asyncio.Event()
        self._answer: Message = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        """True while the app's startup has completed and its shutdown has not run."""
        return self.state is LifespanCycleState.STARTED

    async def startup(self, timeout: float) -> None:
        """Run the app's startup within `timeout` seconds; raise LifespanError when it fails,
        takes longer, or is required (mode "on") but missing."""
        if self.mode == "off":
            self.state = LifespanCycleState.UNSUPPORTED
            return
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.app_state,
        }
        self._task = asyncio.ensure_future(self.app(scope, self.receive, self.send))
        await self._exchange({"type": "lifespan.startup"}, "startup", timeout)

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Run the app's shutdown within `timeout` seconds, if its startup completed."""
        if self.state is not LifespanCycleState.STARTED:
            return
        await self._exchange({"type": "lifespan.shutdown"}, "shutdown", timeout)
        self.state = LifespanCycleState.STOPPED

    async def abandon(self, timeout: float = 1.0) -> None:
        """Cancel the app's lifespan task if it is still running (after a failed or timed-out
        startup the app may still wait on `receive()`), so that closing the loop leaves no task."""
        task = self._task
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait({task}, timeout=timeout)
        if not task.done():
            logger.warning("The app's lifespan ignored cancellation when the container stopped")

    async def _exchange(self, message: Message, phase: str, timeout: float) -> None:
        assert self._task is not None
        self._answered.clear()
        await self._inbox.put(message)
        answered = asyncio.ensure_future(self._answered.wait())
        done, _ = await asyncio.wait(
            {self._task, answered}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        answered.cancel()
        if not done:
            self.state = LifespanCycleState.FAILED
            raise LifespanError(f"The app's lifespan {phase} did not finish within {timeout:.1f}s")
        kind = self._answer.get("type", "")
        if kind == f"lifespan.{phase}.complete":
            self.state = LifespanCycleState.STARTED
            return
        if kind == f"lifespan.{phase}.failed":
            self.state = LifespanCycleState.FAILED
            raise LifespanError(f"The app's lifespan {phase} failed: {self._answer.get('message', '')}")
        error = self._task.exception() if self._task.done() and not self._task.cancelled() else None
        if phase == "startup" and self.mode == "auto":
            # Most apps without a lifespan handler raise on the unknown scope type: that means "no lifespan".
            logger.info("The app does not support lifespan (%s); continuing without it", error)
            self.state = LifespanCycleState.UNSUPPORTED
            return
        self.state = LifespanCycleState.FAILED
        raise LifespanError(f"The app's lifespan {phase} did not complete: {error!r}") from error

    async def receive(self) -> Message:
        return await self._inbox.get()

    async def send(self, message: Message) -> None:
        kind = message.get("type", "")
        if not kind.startswith("lifespan.") or not kind.endswith((".complete", ".failed")):
            raise RuntimeError(f"Unexpected ASGI lifespan message {kind!r}")
        self._answer = message
        self._answered.set()
