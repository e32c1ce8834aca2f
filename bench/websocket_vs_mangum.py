"""Table 2: a WebSocket MESSAGE of the echo app, asgiway against Mangum 0.12.4 (its last release with
WebSockets), on sqlite, replies captured by the loopback @connections double.

Mangum 0.12.4 cannot share an environment with 0.22, so it runs in a virtualenv of its own,
created on first use under bench/.venvs/, with the same app, events and endpoint.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import venv
from pathlib import Path

from examples.echo.app import Echo
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute

from asgiway import Adapter
from asgiway.backends import from_dsn
from asgiway.management_api import ManagementApi
from asgiway.testing import ConnectionsApiDouble, LambdaContextStub, connect_event, message_event
from bench.table import Table, median_us, ratio, verdict

REPOSITORY = Path(__file__).resolve().parents[1]
ANCHOR = REPOSITORY / "bench" / ".venvs" / "mangum-0.12.4"
ANCHOR_REQUIREMENTS = ["mangum==0.12.4", "httpx", "boto3", "starlette", "aiosqlite"]
CALLS = 300
CONNECTION = "EchoBench00001="
#: The echo example's endpoint at "/": Mangum 0.12.4 has no setting for a WebSocket route elsewhere.
app = Starlette(routes=[WebSocketRoute("/", Echo)])

#: Run inside the anchor's virtualenv: the same echo endpoint (imported from the repository), the same events.
ANCHOR_SCRIPT = """
import json, os, statistics, sys, time
sys.path[:0] = [os.environ["REPOSITORY"] + "/runtime", os.environ["REPOSITORY"]]
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from examples.echo.app import Echo
from mangum import Mangum
app = Starlette(routes=[WebSocketRoute("/", Echo)])

class Context:
    aws_request_id = "bench"
    def get_remaining_time_in_millis(self):
        return 30000

connect, message, calls = json.load(sys.stdin)
handler = Mangum(app, dsn=os.environ["ANCHOR_DSN"], api_gateway_endpoint_url=os.environ["ENDPOINT"],
                 api_gateway_region_name="us-east-1")
assert handler(connect, Context())["statusCode"] == 200
for _ in range(20):
    handler(message, Context())
samples = []
for _ in range(calls):
    started = time.perf_counter_ns()
    handler(message, Context())
    samples.append(time.perf_counter_ns() - started)
print(statistics.median(samples) / 1000)
"""


def _anchor_python() -> Path:
    python = ANCHOR / "bin" / "python"
    if not python.exists():
        venv.create(ANCHOR, with_pip=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", *ANCHOR_REQUIREMENTS], check=True)
    return python


def run() -> Table:
    table = Table(
        f"2. WebSocket MESSAGE, echo app on sqlite (median µs, {CALLS} events; loopback @connections)",
        ["adapter", "median µs", "vs asgiway", "target", "verdict"],
        anchor="Mangum 0.12.4 (its last release with WebSockets), the same app and events in the same run",
    )
    connect, message = connect_event(CONNECTION), message_event(CONNECTION, "hi")
    with tempfile.TemporaryDirectory() as folder, ConnectionsApiDouble() as api:
        ours = _asgiway(Path(folder) / "asgiway.db", api.endpoint_url, connect, message)
        floor = _floor(Path(folder) / "asgiway.db", api.endpoint_url)
        anchor_calls_before = len(api.calls)
        anchor = float(
            subprocess.run(
                [_anchor_python(), "-c", ANCHOR_SCRIPT],
                input=json.dumps([connect, message, CALLS]),
                capture_output=True,
                text=True,
                check=True,
                env={
                    "REPOSITORY": str(REPOSITORY),
                    "ANCHOR_DSN": f"sqlite://{Path(folder) / 'mangum.db'}",
                    "DSN_URL": f"sqlite://{Path(folder) / 'unused.db'}",
                    # Mangum 0.12.4 posts to "{endpoint}/{connection id}": the URL names @connections itself.
                    "ENDPOINT": f"{api.endpoint_url}/@connections",
                    "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "bench",
                    "AWS_DEFAULT_REGION": "us-east-1",
                    "PATH": "/usr/bin:/bin",
                },
            ).stdout.strip()
        )
        echoed = [call for call in api.calls[anchor_calls_before:] if call.data == b"Message text was: hi"]
        assert len(echoed) >= CALLS, f"Mangum 0.12.4 posted {len(echoed)} echoes"
    table.add("floor: one store read + one POST", floor, ratio(floor, ours), "", "")
    table.add("asgiway", ours, "1.00x", "", "")
    table.add("Mangum 0.12.4", anchor, ratio(anchor, ours), "", "")
    table.notes = [
        f"Target asgiway ≤ 0.3x Mangum 0.12.4: {ours / anchor:.2f}x ({verdict(ours / anchor, 0.3)})."
    ]
    return table


def _asgiway(
    database: Path, endpoint_url: str, connect: dict[str, object], message: dict[str, object]
) -> float:
    handler = Adapter(app, dsn=f"sqlite://{database}", api_gateway_endpoint_url=endpoint_url)
    context = LambdaContextStub(timeout_seconds=60)
    reply = handler(connect, context)
    assert reply["statusCode"] == 200, reply
    time.sleep(0.2)  # the CONNECT-time delivery thread
    result = median_us(lambda: handler(message, context), CALLS, warmup=20)
    handler.close()
    return result


def _floor(database: Path, endpoint_url: str) -> float:
    store = from_dsn(f"sqlite://{database}")
    poster = ManagementApi(endpoint_url)

    def read_and_post() -> None:
        assert store.load(CONNECTION) is not None
        poster.post(CONNECTION, "Message text was: hi")

    result = median_us(read_and_post, CALLS, warmup=20)
    store.close()
    return result
