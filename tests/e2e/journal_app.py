"""A Lambda handler that writes down every event it runs, for tests that must prove what never ran.

`ASGIWAY_TEST_JOURNAL` names a file each instance appends one line per event to: the kind (CONNECT,
MESSAGE, DISCONNECT, HTTP), the connection id (or the path) and the body's first 40 characters.
A MESSAGE `hold` runs until the file `ASGIWAY_TEST_GATE` names exists, so a test decides when
the connection's next event may start; a MESSAGE `sleep N` takes N seconds.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

JOURNAL_VARIABLE = "ASGIWAY_TEST_JOURNAL"
GATE_VARIABLE = "ASGIWAY_TEST_GATE"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request_context = event.get("requestContext", {})
    kind = request_context.get("eventType", "HTTP")
    subject = request_context.get("connectionId") or event.get("rawPath", "")
    body = str(event.get("body") or "")
    with Path(os.environ[JOURNAL_VARIABLE]).open("a") as journal:
        journal.write(f"{kind} {subject} {body[:40]}\n")
    if kind == "MESSAGE" and body == "hold":
        gate = Path(os.environ[GATE_VARIABLE])
        while not gate.exists():
            time.sleep(0.01)
    elif kind == "MESSAGE" and body.startswith("sleep "):
        time.sleep(float(body.split()[1]))
    return {"statusCode": 200, "body": "ok"}
