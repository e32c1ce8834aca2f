"""Per-connection state: what an app keeps in `scope["state"]` from one event to the next.

Starlette's `websocket.state` is `scope["state"]`, which also holds a copy of the lifespan state.
Only what the app itself put there belongs to the connection and is stored with its record.

A key that starts with an underscore is private by Python's convention: frameworks keep their own
bookkeeping there (Litestar its connection state, under `_ls_connection_state`), rebuilt at every
event. Such a key whose value is not JSON is left out quietly (DEBUG, once per key per container);
any other key that cannot be stored is an ERROR, since the app would miss it at the next event.
"""

from __future__ import annotations

import json
import logging
from typing import Any

logger = logging.getLogger("asgiway")

#: The most per-connection state kept, JSON-encoded: stores cap a record (DynamoDB at 400 KB).
MAX_STATE_BYTES = 64 * 1024

#: The private keys already said to be left out, in this container.
_private_keys_left_out: set[str] = set()


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
        elif key.startswith("_"):
            _left_out_quietly(key)
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


def _left_out_quietly(key: str) -> None:
    if key in _private_keys_left_out:
        return
    _private_keys_left_out.add(key)
    logger.debug(
        "Per-connection state %r is private (a framework's own, rebuilt at every event) and not JSON: "
        "not stored, and not said again in this container",
        key,
    )
