"""Table 10: a warm container's memory over 10,000 chat events on sqlite.

One Adapter serves the events in a fresh interpreter of its own, so that its resident set is the
adapter's alone: the @connections double (which keeps every call it receives) runs in another
process. The room keeps 50 members: 49 stay connected throughout, and a 50th arrives, sends one
message (broadcast to all 50) and leaves, over and over, so every event but the first few is like
the ones before it, and any growth is what the events leave behind.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.fanout import double_in_its_own_process
from bench.table import Table, verdict

EVENTS = 10_000
ROOM_SIZE = 50
#: Growth is measured from this event on: by then every cache and pool is as full as it gets.
STEADY_FROM = 1_000
PEAK_TARGET_MB = 80.0
#: "No growth", allowing for the allocator's page-sized steps.
GROWTH_TARGET_MB = 1.0
REPOSITORY = Path(__file__).resolve().parents[1]

#: Run in the fresh interpreter: argv is the dsn, the endpoint, the event count, the room size and
#: the event to start measuring growth from; prints the resident sets as JSON.
SERVE = """
import gc, json, sys
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from asgiway import EVENT_SCOPE_KEY, Adapter
from asgiway.connections import Connections
from asgiway.testing import LambdaContextStub, connect_event, disconnect_event, message_event

dsn, endpoint_url, events, room_size, steady_from = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])

async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    connections = Connections.of(websocket)
    if websocket.scope[EVENT_SCOPE_KEY] == "connect":
        await connections.join("lobby")
    async for text in websocket.iter_text():
        await connections.broadcast(text, room="lobby")

def status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024

app = Starlette(routes=[WebSocketRoute("/", chat)])
handler = Adapter(app, dsn=dsn, api_gateway_endpoint_url=endpoint_url)
for member in range(room_size - 1):
    handler(connect_event(f"Member{member:04d}="), LambdaContextStub(timeout_seconds=60))
checkpoints = [steady_from + (events - steady_from) * step // 3 for step in range(4)]
served, visit, resident, objects = 0, 0, {}, {}
while served < events:
    visitor = f"Visitor{visit:06d}="
    for event in (connect_event(visitor), message_event(visitor, "hello"), disconnect_event(visitor)):
        if served < events:
            # Each invocation has its own context, its remaining time counting from its start.
            assert handler(event, LambdaContextStub(timeout_seconds=60))["statusCode"] == 200
            served += 1
            if served in checkpoints:
                resident[served] = status_mb("VmRSS")
                objects[served] = len(gc.get_objects())
    visit += 1
# VmHWM, not getrusage's ru_maxrss: Linux carries that one over from the parent across fork and
# exec, so it reported the whole bench's peak (188 MB after the frameworks' table), not this one's.
print(json.dumps({"peak": status_mb("VmHWM"), "resident": resident, "objects": objects}))
"""


def run(events: int = EVENTS) -> Table:
    table = Table(
        f"10. Memory: one warm container serving {events:,} chat events (connect, message broadcast "
        f"to {ROOM_SIZE}, disconnect; sqlite, loopback @connections in its own process)",
        ["measure", "value", "target", "verdict"],
        anchor=f"the container's own resident set at event {STEADY_FROM:,} (for growth) and the "
        f"{PEAK_TARGET_MB:g} MB target (for the peak)",
    )
    with tempfile.TemporaryDirectory() as folder, double_in_its_own_process(delay=0) as endpoint_url:
        dsn = f"sqlite://{Path(folder) / 'memory.db'}"
        arguments = [dsn, endpoint_url, str(events), str(ROOM_SIZE), str(STEADY_FROM)]
        served = subprocess.run(
            [sys.executable, "-c", SERVE, *arguments],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPOSITORY,
        )
    figures = json.loads(served.stdout.strip().splitlines()[-1])
    resident = {int(event): mb for event, mb in figures["resident"].items()}
    objects = {int(event): count for event, count in figures["objects"].items()}
    table.add(
        "peak resident set (VmHWM)",
        f"{figures['peak']:.1f} MB",
        f"≤ {PEAK_TARGET_MB:g} MB",
        verdict(figures["peak"], PEAK_TARGET_MB),
    )
    for event, mb in resident.items():
        label = f"resident set at event {event:,} ({objects[event]:,} Python objects)"
        table.add(label, f"{mb:.1f} MB", "", "")
    growth = resident[events] - resident[STEADY_FROM]
    table.add(
        f"growth, event {STEADY_FROM:,} to {events:,}",
        f"{growth:+.2f} MB",
        f"≤ {GROWTH_TARGET_MB:g} MB",
        verdict(growth, GROWTH_TARGET_MB),
    )
    return table
