"""Table 8: a WebSocket MESSAGE of each framework's documented echo, next to Starlette's, and what
asgiway's session-end rule (asgiway.protocols.idle) costs each.

Every app runs through the Adapter on sqlite, its reply posted to the loopback @connections double:
the median of CALLS MESSAGE events after a warm-up. "rule" is the time asgiway spent deciding that
the session was over (its checks of the app's tasks, each when the loop had nothing else to run),
and how many checks that took, per event. Two raw ASGI echoes doing the same work isolate the
rule's own cost: one reads only when it is ready, the other has Quart's read-ahead reader task.

`python -m bench.frameworks`
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.apps.frameworks import ECHO_APPS

from asgiway import Adapter
from asgiway.protocols.idle import SessionActivity
from asgiway.testing import ConnectionsApiDouble, LambdaContextStub, connect_event, message_event
from bench.table import Table, ratio

CALLS = 300
ROUNDS = 10
WARMUP = 30
CONNECTION = "FrameworkBench="
#: Channels' AllowedHostsOriginValidator wants a browser's Origin that ALLOWED_HOSTS lists.
BROWSER = {"Origin": "http://127.0.0.1:8000"}


@dataclass(frozen=True)
class Case:
    """One row: an app, where its route is, and the frame each MESSAGE carries."""

    name: str
    app: Callable[[], Any]
    websocket_path: str
    frame: str
    members: int = 1


@dataclass
class RuleCost:
    """The session-end rule's checks during the measured events."""

    checks: int = 0
    nanoseconds: list[int] = field(default_factory=list)


async def _raw_when_ready(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        await send({"type": "websocket.send", "text": message["text"]})


async def _raw_read_ahead(scope: Any, receive: Any, send: Any) -> None:
    queue: asyncio.Queue[str] = asyncio.Queue()

    async def reader() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.receive":
                await queue.put(message["text"])

    async def handler() -> None:
        await send({"type": "websocket.accept"})
        while True:
            await send({"type": "websocket.send", "text": await queue.get()})

    tasks = [asyncio.ensure_future(reader()), asyncio.ensure_future(handler())]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)


def _cases() -> list[Case]:
    cases = [
        Case("raw ASGI, reads when ready", lambda: _raw_when_ready, "/", "hi"),
        Case("raw ASGI, read-ahead reader task", lambda: _raw_read_ahead, "/", "hi"),
    ]
    for echo in ECHO_APPS:
        cases.append(Case(f"{echo.name} (documented echo)", echo.load, echo.websocket_path, echo.frame(0)))
    chat_frame = json.dumps({"message": "hi"})
    for label, target in (("async", "channels_chat"), ("sync", "channels_sync_chat")):
        module = f"tests.apps.{target}"
        load, path = _loader(module), "/ws/chat/lobby/"
        cases.append(Case(f"channels tutorial chat, {label}, 1 member", load, path, chat_frame))
        cases.append(Case(f"channels tutorial chat, {label}, 4 members", load, path, chat_frame, 4))
    return cases


def _loader(module: str) -> Callable[[], Any]:
    def load() -> Any:
        import importlib

        return importlib.import_module(module).application

    return load


@contextlib.contextmanager
def _rule_cost() -> Iterator[RuleCost]:
    """Time every check of the session-end rule while the block runs."""
    cost = RuleCost()
    probe: Any = SessionActivity._probe

    def timed(self: SessionActivity) -> None:
        started = time.perf_counter_ns()
        probe(self)
        cost.checks += 1
        cost.nanoseconds.append(time.perf_counter_ns() - started)

    SessionActivity._probe = timed  # type: ignore[method-assign]
    try:
        yield cost
    finally:
        SessionActivity._probe = probe  # type: ignore[method-assign]


@dataclass
class Measured:
    """One case's handler, connected, and what its MESSAGE events took."""

    case: Case
    handler: Adapter
    samples: list[int] = field(default_factory=list)
    cost: RuleCost = field(default_factory=RuleCost)

    @classmethod
    def connected(cls, case: Case, api: ConnectionsApiDouble, folder: Path) -> Measured:
        handler = Adapter(
            case.app(),
            dsn=f"sqlite://{folder / (case.name.replace(' ', '_') + '.db')}",
            websocket_path=case.websocket_path,
            api_gateway_endpoint_url=api.endpoint_url,
            lifespan="off",  # what is measured is a MESSAGE; the raw apps have no lifespan
        )
        others = [f"Member{number}=" for number in range(1, case.members)]
        for connection_id in (CONNECTION, *others):
            connected = handler(connect_event(connection_id, headers=BROWSER), LambdaContextStub())
            assert connected["statusCode"] == 200, connected
        measured = cls(case, handler)
        for _ in range(WARMUP):
            measured.message()
        return measured

    def message(self) -> int:
        """One MESSAGE event; its wall time in nanoseconds."""
        event = message_event(CONNECTION, self.case.frame)
        started = time.perf_counter_ns()
        reply = self.handler(event, LambdaContextStub())
        elapsed = time.perf_counter_ns() - started
        assert reply["statusCode"] == 200, reply
        return elapsed

    def measure(self, calls: int) -> None:
        with _rule_cost() as cost:
            self.samples.extend(self.message() for _ in range(calls))
        self.cost.checks += cost.checks
        self.cost.nanoseconds.extend(cost.nanoseconds)

    def percentile_us(self, fraction: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] / 1000


def run(calls: int = CALLS) -> Table:
    """Every case in ROUNDS rounds of calls / ROUNDS events each, in turn: a machine that gets
    busier or quieter during the run weighs on every case alike."""
    table = Table(
        f"9. WebSocket MESSAGE per framework's documented echo (µs, {calls} events each in {ROUNDS} "
        "interleaved rounds, sqlite; loopback @connections)",
        ["app", "median µs", "p95 µs", "vs starlette", "rule: checks per event", "rule: µs per event"],
        anchor="Starlette's echo through asgiway, in the same interleaved rounds",
    )
    with tempfile.TemporaryDirectory() as folder, ConnectionsApiDouble() as api:
        cases = [Measured.connected(case, api, Path(folder)) for case in _cases()]
        for _ in range(ROUNDS):
            for measured in cases:
                measured.measure(calls // ROUNDS)
        for measured in cases:
            measured.handler.close()
    starlette = next(m.percentile_us(0.5) for m in cases if m.case.name.startswith("starlette"))
    for measured in cases:
        events = len(measured.samples)
        median = measured.percentile_us(0.5)
        table.add(
            measured.case.name,
            median,
            measured.percentile_us(0.95),
            ratio(median, starlette),
            f"{measured.cost.checks / events:.1f}",
            sum(measured.cost.nanoseconds) / events / 1000,
        )
    table.notes.append(
        "The 4-member chats replay the three other members' consumers in this process after the "
        "sender's session (on Lambda they go to an asynchronous invocation instead, off the "
        "sender's time): one consumer replay per recipient."
    )
    return table


def main() -> None:
    # Litestar's import sets up logging: asgiway's INFO lines (no lifespan in Channels) are noise here.
    logging.getLogger("asgiway").setLevel(logging.WARNING)
    # boto3 signs the loopback @connections calls; any key pair will do.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    # Litestar's documented listeners print at every session's start and end: not into the table.
    with contextlib.redirect_stdout(io.StringIO()):
        table = run()
    print(table.markdown(), flush=True)


if __name__ == "__main__":
    main()
