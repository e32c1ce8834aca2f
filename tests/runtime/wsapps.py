"""The three kinds of app the WebSocket tests drive: Starlette endpoint, FastAPI route, raw ASGI;
and a clock of their own for the tests of deadlines.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket

T = TypeVar("T")

#: What an event keeps back from the end of the Lambda's time to answer in: half a second, as the
#: README promises. Pinned here, not read from the adapter, so that a smaller margin fails.
ANSWER_MARGIN_SECONDS = 0.5


class Journal:
    """What an app saw, across events: each entry a (hook, detail) pair."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, Any]] = []

    def add(self, hook: str, detail: Any = None) -> None:
        self.entries.append((hook, detail))

    def hooks(self, name: str) -> list[Any]:
        return [detail for hook, detail in self.entries if hook == name]


def starlette_echo(journal: Journal) -> Starlette:
    class Echo(WebSocketEndpoint):
        encoding = "text"

        async def on_connect(self, websocket: StarletteWebSocket) -> None:
            journal.add("connect", websocket.scope["asgiway.event"])
            await websocket.accept()
            if websocket.scope["asgiway.event"] == "connect":
                journal.add("first-connect")

        async def on_receive(self, websocket: StarletteWebSocket, data: Any) -> None:
            journal.add("receive", data)
            await websocket.send_text(f"Message text was: {data}")

        async def on_disconnect(self, websocket: StarletteWebSocket, close_code: int) -> None:
            journal.add("on_disconnect", (websocket.scope["asgiway.event"], close_code))

    return Starlette(routes=[WebSocketRoute("/ws", Echo)])


def fastapi_echo(journal: Journal) -> FastAPI:
    app = FastAPI()

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                data = await websocket.receive_text()
                journal.add("receive", data)
                await websocket.send_text(data.upper())
        except WebSocketDisconnect as exc:
            journal.add("WebSocketDisconnect", exc.code)

    return app


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock stands still while it works and jumps to its next timer when it
    would wait: timers fire in order at the times they were set for, and no real time passes.

    What an adapter does by the clock is then exact however loaded the machine: a deadline is
    checked as arithmetic, not as a race against the scheduler. For apps that wait on timers
    alone: the clock would jump past any I/O or thread the loop waited for.
    """

    def __init__(self) -> None:
        self._virtual_now = 0.0
        super().__init__(_JumpingSelector(self._advance))

    def time(self) -> float:
        return self._virtual_now

    def _advance(self, seconds: float) -> None:
        self._virtual_now += seconds


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, advance: Callable[[float], None]) -> None:
        super().__init__()
        self._advance = advance

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = super().select(0)
        if ready:
            return ready
        if timeout is None:  # no timer is set: only I/O can wake the loop
            return super().select(None)
        self._advance(timeout)
        return []


def on_virtual_clock(make: Callable[[], T]) -> tuple[T, VirtualClockLoop]:
    """What `make()` returns, with the Adapter it makes running its events on a VirtualClockLoop.

    An Adapter makes its event loop once, when it is made, through the event loop policy: the
    policy hands out the virtual loop for just that while.
    """
    loop = VirtualClockLoop()
    handed_out: list[VirtualClockLoop] = []

    class VirtualClockPolicy(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self) -> asyncio.AbstractEventLoop:
            handed_out.append(loop)
            return loop

    previous = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(VirtualClockPolicy())
    try:
        made = make()
    finally:
        asyncio.set_event_loop_policy(previous)
    assert handed_out, "no event loop was made: the events would run on the real clock"
    return made, loop
