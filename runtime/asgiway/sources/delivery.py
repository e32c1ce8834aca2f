"""The asynchronous invocation a CONNECT hands its frames to (see `asgiway.deferred`).

Kept apart from `deferred` so that recognising one costs a cold start nothing.
"""

from __future__ import annotations

from typing import Any

#: The key that marks an event as a delivery of CONNECT-time frames (never an API Gateway key).
DELIVERY_EVENT_KEY = "asgiway.deliver"


def is_delivery(event: Any) -> bool:
    return isinstance(event, dict) and isinstance(event.get(DELIVERY_EVENT_KEY), dict)
