"""Per-connection state: what an app keeps in `scope["state"]` from one event to the next.

Starlette's `websocket.state` is `scope["state"]`, which also holds a copy of the lifespan state.
Only what the app itself put there belongs to the connection and is stored with its record.
"""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger("asgiway")

#: The most per-connection state kept, JSON-encoded: stores cap a record (DynamoDB at 400 KB).
MAX_STATE_BYTES = 64 * 1024


def encoded(state: dict[str, Any]) -> str:
    """The canonical JSON of a state, which is also how two states are compared."""
    return json.dumps(state, allow_nan=False, sort_keys=True, separators=(",", ":"))


def session_state(stored: dict[str, Any], lifespan_state: dict[str, Any]) -> dict[str, Any]:
    """The `scope["state"]` of a session: the lifespan state, then a deep copy of the stored state.

    A copy, so that changes the app makes in place are seen as changes when the session ends.
    """
    copy: dict[str, Any] = json.loads(encoded(stored))
    return {**lifespan_state, **copy}


def persistable(
    state: dict[str, Any], lifespan_state: dict[str, Any], connection_id: str
) -> dict[str, Any] | None:
    """The per-connection part of a session's state, or None when it is too large to store.

    Lifespan state is left out; so is any key whose value is not JSON that reads back as written
    (NaN, tuples, objects), named in the log without its value, which may be a secret.
    """
    own: dict[str, Any] = {}
    for key, value in state.items():
        if key in lifespan_state and lifespan_state[key] is value:
            continue
        try:
            faithful = json.loads(encoded({key: value})) == {key: value}
        except (TypeError, ValueError):
            faithful = False
        if faithful:
            own[key] = value
        else:
            logger.error(
                "Per-connection state %r is not a JSON value that reads back the same; not stored"
                " (connection %s)",
                key,
                connection_id,
            )
    size = len(encoded(own))
    if size > MAX_STATE_BYTES:
        logger.error(
            "Per-connection state of %d bytes exceeds %d; not stored (connection %s)",
            size,
            MAX_STATE_BYTES,
            connection_id,
        )
        return None
    return own
