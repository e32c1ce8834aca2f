"""A client that floods `asgiway dev` is closed with 1008, the emulator's memory stays put, nothing
runs for a client that has left, and a stop waits for no backlog (issue 15, finding 5).

The function is `tests.e2e.journal_app:handler`: it writes down every event, and holds a MESSAGE
`hold` until the test opens a gate. Holding the connection's first MESSAGE makes every later frame
wait, so what the backlog does is decided by the test, not by how fast the machine is; the journal
then shows, in order, everything that ran.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close
from websockets.sync.client import ClientConnection, connect

from asgiway.local.backlog import MAX_WAITING_BYTES
from tests.e2e.journal_app import GATE_VARIABLE, JOURNAL_VARIABLE
from tests.support.dev_server import DevServer
from tests.support.waits import ARRIVAL_SECONDS

APP = "tests.e2e.journal_app:handler"
#: The review's flood: 3,000 messages of 127 KB, each in frames of at most 32 KB, as API Gateway
#: closes a client's larger frame with 1009.
FLOOD_FRAMES = 3000
FLOOD_FRAME = ["x" * (32 * 1024)] * 3 + ["x" * (31 * 1024)]
#: How much the emulator's resident memory may grow through the flood: the backlog's bound, plus
#: room for the allocator; the unbounded queue grew it by hundreds of MB.
MAX_GROWTH_BYTES = MAX_WAITING_BYTES + 60 * 1024 * 1024


def resident_bytes(pid: int, field: str = "VmRSS") -> int:
    """A process's resident memory now (VmRSS) or at its peak (VmHWM), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"/proc/{pid}/status has no {field}")


def journal_of(journal: Path, connection_id: str) -> list[str]:
    """What the function ran for the connection: its kind and the body's start, in order."""
    lines = journal.read_text().splitlines() if journal.exists() else []
    return [
        f"{kind} {body}".strip()
        for kind, subject, body in (line.split(" ", 2) for line in lines)
        if subject == connection_id
    ]


def wait_for_journal(journal: Path, connection_id: str, entry: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while entry not in journal_of(journal, connection_id):
        assert time.monotonic() < deadline, f"{entry!r} never ran: {journal_of(journal, connection_id)}"
        time.sleep(0.02)


@contextmanager
def held_client(server: DevServer, journal: Path) -> Iterator[tuple[ClientConnection, str]]:
    """A client whose first MESSAGE is running, held until the gate opens; and its connection id."""
    with connect(server.websocket_url, open_timeout=ARRIVAL_SECONDS) as client:
        pattern = r"CONNECT\s+(?P<id>\S+)\s+\$connect\s+200"
        found = re.search(pattern, server.wait_for_line(pattern))
        assert found is not None
        client.send("hold")
        wait_for_journal(journal, found["id"], "MESSAGE hold")
        yield client, found["id"]


def flood(client: ClientConnection) -> tuple[int, Close | None]:
    """Send the flood as fast as the connection takes it, until the server closes it: the frames
    sent, and the server's close frame."""
    sent = 0
    try:
        for _ in range(FLOOD_FRAMES):
            client.send(FLOOD_FRAME)
            sent += 1
        client.recv(timeout=30)
    except ConnectionClosed as closed:
        return sent, closed.rcvd
    raise AssertionError(f"all {FLOOD_FRAMES} frames were taken, and the client was never closed")


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    return tmp_path / "journal"


@pytest.fixture
def gate(tmp_path: Path) -> Path:
    return tmp_path / "gate"


def test_a_flood_is_closed_with_1008_and_nothing_runs_for_it(journal: Path, gate: Path) -> None:
    environment: dict[str, str | None] = {JOURNAL_VARIABLE: str(journal), GATE_VARIABLE: str(gate)}
    with DevServer(APP, environment=environment) as server:
        with held_client(server, journal) as (client, connection_id):
            before, peak_before = resident_bytes(server.pid), resident_bytes(server.pid, "VmHWM")
            started = time.monotonic()
            sent, close = flood(client)
            flood_seconds = time.monotonic() - started
        after, peak_after = resident_bytes(server.pid), resident_bytes(server.pid, "VmHWM")
        # The client has left; only now may the held MESSAGE end, and the connection's next event run.
        gate.touch()
        server.wait_for_line(rf"DISCONNECT\s+{re.escape(connection_id)}\s+.*1008 Too many messages waiting")
        print(
            f"flood: {sent} frames sent in {flood_seconds:.2f} s before the close; emulator RSS "
            f"{mib(before)} -> {mib(after)}, peak {mib(peak_before)} -> {mib(peak_after)}"
        )
    assert close is not None
    assert (close.code, close.reason) == (1008, "Too many messages waiting")
    assert peak_after - peak_before < MAX_GROWTH_BYTES
    assert after - before < MAX_GROWTH_BYTES
    # Not one flooded frame ran: the held MESSAGE, then the DISCONNECT, for a client long gone.
    assert journal_of(journal, connection_id) == ["CONNECT", "MESSAGE hold", "DISCONNECT"]


#: Frames waiting behind the held MESSAGE when the emulator is stopped, a second each: a stop
#: that waited for them would take BACKLOG_SECONDS at least.
BACKLOG_SECONDS = 30


def test_a_stop_waits_for_the_running_message_only(journal: Path, gate: Path) -> None:
    environment: dict[str, str | None] = {JOURNAL_VARIABLE: str(journal), GATE_VARIABLE: str(gate)}
    with DevServer(APP, environment=environment) as server:
        with held_client(server, journal) as (client, connection_id):
            for _ in range(BACKLOG_SECONDS):
                client.send("sleep 1")
            # Frames are read in order: the pong means every frame before the ping has arrived.
            assert client.ping().wait(10)
            server.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                client.recv(timeout=30)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1012  # the emulator is restarting: the client may come back
        gate.touch()
        started = time.monotonic()
        code = server.wait(BACKLOG_SECONDS * 2)
        stop_seconds = time.monotonic() - started
        print(f"stop: exited {stop_seconds:.2f} s after the held MESSAGE was let go")
    assert code == 0
    assert journal_of(journal, connection_id) == ["CONNECT", "MESSAGE hold", "DISCONNECT"]
    assert stop_seconds < BACKLOG_SECONDS
