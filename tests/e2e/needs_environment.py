"""A handler module that reads the function's environment at import, as deployed code often does."""

from __future__ import annotations

import os
from typing import Any

DSN_URL = os.environ["DSN_URL"]
WEBSOCKET_URL = os.environ["WEBSOCKET_URL"]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": WEBSOCKET_URL}
