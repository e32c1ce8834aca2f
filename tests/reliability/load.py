"""Many WebSocket clients through `asgiway dev`: connect, talk in rooms, leave; count what arrived.

`python -m tests.reliability.load --clients 500 --messages 20 --dsn sqlite:///tmp/load.db` runs
the full-size load and prints the figures; tests/reliability/test_load.py runs it in CI, smaller.
Every client joins room `client % rooms`, waits until everyone has joined, sends its messages one
after another, and reads until it holds every message of its room. Then each sends a last message,
`end`, and reads until it holds every member's: a sender's messages reach a client in the order they
were sent (one MESSAGE event at a time per connection, each event's posts done before the next), so
a frame delivered twice would have arrived before that marker. Then all leave, and the store must
empty: every DISCONNECT removed its record and its memberships.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect

from asgiway.backends import Backend, from_dsn
from tests.support.dev_server import DevServer

APP = "tests.reliability.load_app:app"
#: The last message every client sends (see the module docstring).
END = "end"
#: Handshakes in flight at once: a bounded loop, as a browser fleet would not all open in one tick.
HANDSHAKES_AT_ONCE = 50


@dataclass
class LoadReport:
    clients: int
    rooms: int
    messages: int
    connect_seconds: float = 0.0
    talk_seconds: float = 0.0
    leave_seconds: float = 0.0
    frames_received: int = 0
    #: What went wrong, one line per client and kind; empty when every frame arrived once, in order.
    problems: list[str] = field(default_factory=list)

    @property
    def connections_per_second(self) -> float:
        return self.clients / self.connect_seconds

    @property
    def messages_per_second(self) -> float:
        return self.clients * self.messages / self.talk_seconds if self.talk_seconds else 0.0

    @property
    def deliveries_per_second(self) -> float:
        return self.frames_received / self.talk_seconds if self.talk_seconds else 0.0

    def summary(self) -> str:
        return (
            f"{self.clients} clients in {self.rooms} rooms, {self.messages} messages each: "
            f"connected in {self.connect_seconds:.1f} s ({self.connections_per_second:.0f}/s); "
            f"{self.clients * self.messages:,} messages and {self.frames_received:,} deliveries in "
            f"{self.talk_seconds:.1f} s ({self.messages_per_second:.0f} messages/s, "
            f"{self.deliveries_per_second:.0f} deliveries/s); all left and the store emptied in "
            f"{self.leave_seconds:.1f} s"
        )


class Client:
    """One WebSocket client: its room, and every frame it received after joining."""

    def __init__(self, number: int, rooms: int) -> None:
        self.name = f"c{number}"
        self.room = f"room{number % rooms}"
        self.frames: list[str] = []
        self.socket: ClientConnection | None = None
        #: Set when the server closed the connection before the client left: (code, reason).
        self.closed_early: tuple[int | None, str | None] | None = None
        self._leaving = False
        self._reader: asyncio.Task[None] | None = None

    async def join(self, websocket_url: str, gate: asyncio.Semaphore) -> None:
        async with gate:
            self.socket = await connect(f"{websocket_url}?room={self.room}&name={self.name}", open_timeout=60)
            first = await asyncio.wait_for(self.socket.recv(), 60)
        if first != "joined":
            raise AssertionError(f"{self.name} was greeted with {first!r}")
        self._reader = asyncio.create_task(self._read())

    async def talk(self, messages: int) -> None:
        assert self.socket is not None
        for number in range(messages):
            await self.socket.send(f"m{number}")

    async def send_end(self) -> None:
        assert self.socket is not None
        await self.socket.send(END)

    async def leave(self) -> None:
        assert self.socket is not None
        assert self._reader is not None
        self._leaving = True
        await self.socket.close()
        await self._reader

    async def _read(self) -> None:
        assert self.socket is not None
        async for frame in self.socket:
            self.frames.append(frame if isinstance(frame, str) else frame.decode())
        if not self._leaving:
            self.closed_early = (self.socket.close_code, self.socket.close_reason)


def problems_of(clients: list[Client], messages: int) -> list[str]:
    """Every way a client's frames differ from each room member's messages, once each, in order."""
    members: dict[str, list[str]] = defaultdict(list)
    for client in clients:
        members[client.room].append(client.name)
    expected = [*(f"m{number}" for number in range(messages)), END]
    problems = []
    for client in clients:
        if client.closed_early is not None:
            problems.append(f"{client.name} was closed by the server before it left: {client.closed_early}")
        by_sender: dict[str, list[str]] = defaultdict(list)
        for frame in client.frames:
            sender, _, text = frame.partition(":")
            by_sender[sender].append(text)
        strangers = set(by_sender) - set(members[client.room])
        if strangers:
            problems.append(f"{client.name} got frames from outside its room: {sorted(strangers)[:3]}")
        for sender in members[client.room]:
            if by_sender[sender] != expected:
                got = by_sender[sender]
                problems.append(f"{client.name} got {len(got)} of {sender}'s {messages} + end: {got[:5]}...")
    return problems


async def _everything_arrived(clients: list[Client], expected: dict[str, int], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(len(client.frames) >= expected[client.name] or client.closed_early for client in clients):
            return
        await asyncio.sleep(0.05)  # the readers append as frames come; a few checks a tick cost nothing


async def _store_empties(store: Backend, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while store.connections() and time.monotonic() < deadline:  # noqa: ASYNC110 - polls another process's store
        await asyncio.sleep(0.1)


async def drive(websocket_url: str, store: Backend, clients: int, rooms: int, messages: int) -> LoadReport:
    report = LoadReport(clients, rooms, messages)
    fleet = [Client(number, rooms) for number in range(clients)]
    gate = asyncio.Semaphore(HANDSHAKES_AT_ONCE)

    started = time.monotonic()
    await asyncio.gather(*(client.join(websocket_url, gate) for client in fleet))
    report.connect_seconds = time.monotonic() - started

    room_sizes: dict[str, int] = defaultdict(int)
    for client in fleet:
        room_sizes[client.room] += 1
    expected = {client.name: room_sizes[client.room] * messages for client in fleet}
    started = time.monotonic()
    await asyncio.gather(*(client.talk(messages) for client in fleet))
    # Every delivery is a POST from an instance: a few hundred a second at the very least.
    await _everything_arrived(fleet, expected, seconds=max(600, sum(expected.values()) / 300))
    report.talk_seconds = time.monotonic() - started
    report.frames_received = sum(len(client.frames) for client in fleet)
    # Every member's last message, after which no earlier one can still be on its way to anyone.
    await asyncio.gather(*(client.send_end() for client in fleet))
    with_ends = {client.name: expected[client.name] + room_sizes[client.room] for client in fleet}
    # As many deliveries again as a message each: the same rate bound (a must-arrive wait, not a check).
    ends = sum(with_ends.values()) - sum(expected.values())
    await _everything_arrived(fleet, with_ends, seconds=max(600, ends / 300))
    report.problems = problems_of(fleet, messages)

    started = time.monotonic()
    await asyncio.gather(*(client.leave() for client in fleet))
    await _store_empties(store, seconds=120)
    report.leave_seconds = time.monotonic() - started
    left = store.connections()
    if left:
        report.problems.append(f"{len(left)} records left in the store after everyone left: {left[:3]}")
    return report


def run_load(dsn: str, clients: int, rooms: int, messages: int, concurrency: int) -> LoadReport:
    """Start `asgiway dev` on the store, drive the clients through it, stop it; the report."""
    store = from_dsn(dsn)
    try:
        with DevServer(APP, "--dsn", dsn, "--concurrency", str(concurrency)) as server:
            return asyncio.run(drive(server.websocket_url, store, clients, rooms, messages))
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.load", description=__doc__)
    parser.add_argument("--dsn", required=True, help="the store, e.g. sqlite:///tmp/load.db")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--rooms", type=int, default=5)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4, help="Lambda instances asgiway dev may run")
    arguments = parser.parse_args()
    report = run_load(
        arguments.dsn, arguments.clients, arguments.rooms, arguments.messages, arguments.concurrency
    )
    print(report.summary())
    for problem in report.problems[:20]:
        print("PROBLEM:", problem)
    raise SystemExit(1 if report.problems else 0)


if __name__ == "__main__":
    main()
