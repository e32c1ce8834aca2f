"""Handler instances, spawned and reused as Lambda does: one event at a time each, more when busy.

An event goes to an idle instance, else to a new one (a cold start) while fewer than `concurrency`
exist, else waits for one to be free. A slow event therefore holds one instance, never the others.
An instance that times out is killed, as Lambda ends an environment whose invocation timed out.

Importing the handler has Lambda's init phase (10 s) and, as Lambda tries a slow init again within
the function's timeout, that timeout on top: an import slower than `--timeout` is fine, as on
Lambda. An instance that does not import in time, or exits while importing, fails the event that
was waiting for it (with Lambda's error type, which the event's log line shows), and the next
event starts another instance.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import multiprocessing
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from asgiway.exceptions import AsgiwayError
from asgiway.local.worker import AUTHORIZER, FunctionSpec, serve

#: Lambda's init phase: how long importing the handler may take before Lambda tries again.
INIT_PHASE_SECONDS = 10.0


class HandlerLoadError(AsgiwayError):
    """The handler could not be imported; the instance printed the traceback, if there was one."""

    def __init__(self, error_type: str, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        #: Lambda's errorType for the failed init, e.g. "Runtime.ImportModuleError".
        self.error_type = error_type
        #: The one line a ConfigurationError said (a setting to fix, not a bug to trace), else None.
        self.setting = setting


@dataclass(frozen=True)
class Invocation:
    """How one event went: the handler's result, or Lambda's error shape, and how long it took."""

    result: Any = None
    error: dict[str, Any] | None = None
    timed_out: bool = False
    duration_ms: float = 0.0
    cold: bool = False

    @property
    def failed(self) -> bool:
        return self.error is not None or self.timed_out


class Instance:
    """One process running the handler (see `asgiway.local.worker`)."""

    def __init__(self, process: BaseProcess, connection: Connection) -> None:
        self._process = process
        self._connection = connection
        #: What the instance loaded, e.g. "app:app (an ASGI app in an Adapter, WebSocket route /ws)".
        self.description = ""

    @classmethod
    async def start(cls, spec: FunctionSpec) -> Instance:
        parent, child = multiprocessing.Pipe()
        process = multiprocessing.get_context("spawn").Process(
            target=serve, args=(child, spec), name=f"{spec.name}-instance", daemon=True
        )
        process.start()
        child.close()
        instance = cls(process, parent)
        init_seconds = INIT_PHASE_SECONDS + spec.timeout_seconds
        try:
            status, detail = await asyncio.wait_for(instance._receive(), init_seconds)
        except TimeoutError:
            instance.stop()
            raise HandlerLoadError(
                "Sandbox.Timedout",
                f"importing the handler took over {init_seconds:g} s (Lambda's {INIT_PHASE_SECONDS:g} s"
                f" init phase, then the function's {spec.timeout_seconds:g} s timeout)",
            ) from None
        except EOFError:
            instance.stop()
            raise HandlerLoadError(
                "Runtime.ExitError",
                f"the instance exited while importing the handler (code {process.exitcode})",
            ) from None
        except BaseException:
            instance.stop()  # cancelled: no process may outlive the pool
            raise
        if status != "ready":
            instance.stop()
            raise HandlerLoadError(
                "Runtime.ImportModuleError",
                f"{detail['errorType']}: {detail['errorMessage']}",
                setting=detail["errorMessage"] if detail["errorType"] == "ConfigurationError" else None,
            )
        instance.description = str(detail)
        return instance

    @property
    def alive(self) -> bool:
        return self._process.is_alive()

    async def invoke(self, event: Any, timeout_seconds: float, *, authorizer: bool = False) -> Invocation:
        """Run `event` through the handler, or through the `$connect` authorizer."""
        started = time.perf_counter()
        request = {
            "event": event,
            "request_id": str(uuid.uuid4()),
            "function": AUTHORIZER if authorizer else "handler",
        }
        try:
            self._connection.send_bytes(json.dumps(request).encode())
            status, payload = await asyncio.wait_for(self._receive(), timeout_seconds)
        except TimeoutError:
            self.stop()
            return Invocation(timed_out=True, duration_ms=_since(started))
        except asyncio.CancelledError:
            # Its reply would otherwise answer the next event sent to it.
            self.stop()
            raise
        except (EOFError, OSError):
            self.stop()
            code = self._process.exitcode
            error = {"errorType": "Runtime.ExitError", "errorMessage": f"The instance exited (code {code})"}
            return Invocation(error=error, duration_ms=_since(started))
        if status == "ok":
            return Invocation(result=payload, duration_ms=_since(started))
        return Invocation(error=payload, duration_ms=_since(started))

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join(5)
        self._connection.close()

    async def shut_down(self, timeout_seconds: float) -> None:
        """End the instance gracefully: closing its pipe tells it to run the app's lifespan
        shutdown and exit; one that has not exited within `timeout_seconds` is killed."""
        self._connection.close()
        await asyncio.to_thread(self._process.join, timeout_seconds)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)

    async def _receive(self) -> Any:
        """The instance's next reply, awaited without a thread: the pipe's fd wakes the event loop."""
        loop = asyncio.get_running_loop()
        readable = loop.create_future()
        descriptor = self._connection.fileno()

        def wake() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(descriptor, wake)
        try:
            await readable
        finally:
            loop.remove_reader(descriptor)
        return json.loads(self._connection.recv_bytes())


#: How long an instance may take over the app's lifespan shutdown when the emulator stops.
SHUTDOWN_SECONDS = 10.0


class InstancePool:
    """The function's instances: at most `concurrency` at once, reused while warm."""

    def __init__(self, spec: FunctionSpec, concurrency: int) -> None:
        self.spec = spec
        self._idle: list[Instance] = []
        self._busy: set[Instance] = set()
        self._slots = asyncio.Semaphore(concurrency)
        self._stopping = False

    async def warm(self) -> str:
        """Start one instance now, so a broken handler is reported before the first request.

        Returns what it loaded: the emulator never imports the handler itself.
        """
        instance = await Instance.start(self.spec)
        self._idle.append(instance)
        return instance.description

    def stop_starting(self) -> None:
        """The emulator is stopping: invocations still waiting for an instance are refused."""
        self._stopping = True

    async def invoke(self, event: Any, *, authorizer: bool = False) -> Invocation:
        """Run `event` on an instance: through the handler, or the `$connect` authorizer."""
        async with self._slots:
            if self._stopping:
                return Invocation(error={"errorType": "ServiceUnavailable", "errorMessage": "stopping"})
            instance = self._take_idle()
            cold = instance is None
            started = time.perf_counter()
            try:
                instance = instance or await Instance.start(self.spec)
            except HandlerLoadError as exc:
                error = {"errorType": exc.error_type, "errorMessage": str(exc)}
                return Invocation(error=error, duration_ms=_since(started), cold=True)
            self._busy.add(instance)
            try:
                invocation = await instance.invoke(event, self.spec.timeout_seconds, authorizer=authorizer)
            except asyncio.CancelledError:
                instance.stop()  # mid-event, its state is unknown: no later event may reuse it
                raise
            finally:
                self._busy.discard(instance)
            if instance.alive:
                self._idle.append(instance)
            return dataclasses.replace(invocation, cold=cold)

    def _take_idle(self) -> Instance | None:
        """A warm instance, skipping any that died while idle (as Lambda recycles environments)."""
        while self._idle:
            instance = self._idle.pop()
            if instance.alive:
                return instance
            instance.stop()
        return None

    def close(self) -> None:
        for instance in [*self._idle, *self._busy]:
            instance.stop()
        self._idle.clear()
        self._busy.clear()

    async def shut_down(self) -> None:
        """Stop every instance gracefully (lifespan shutdown included), the busy ones killed."""
        idle, busy = list(self._idle), list(self._busy)
        self._idle.clear()
        self._busy.clear()
        for instance in busy:
            instance.stop()
        await asyncio.gather(*(instance.shut_down(SHUTDOWN_SECONDS) for instance in idle))


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
