"""A Lambda handler whose imports go as a test planned them, one instance after another.

The file named by `ASGIWAY_TEST_IMPORT_PLAN` holds one step per line; each import (one per
instance) takes the first step off the file and follows it: `ok` imports at once, `slow` takes
2 s, `exit` ends the process with code 3, `hang` never finishes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def _next_step() -> str:
    plan = Path(os.environ["ASGIWAY_TEST_IMPORT_PLAN"])
    step, *rest = plan.read_text().split()
    plan.write_text("\n".join(rest))
    return step


_step = _next_step()
if _step == "slow":
    time.sleep(2)
elif _step == "exit":
    os._exit(3)
elif _step == "hang":
    time.sleep(3600)  # the emulator kills the instance long before


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answers with the instance's pid; `/crash` ends the instance, as a crash in an invocation does."""
    if event.get("rawPath") == "/crash":
        os._exit(1)
    return {"statusCode": 200, "body": str(os.getpid())}
