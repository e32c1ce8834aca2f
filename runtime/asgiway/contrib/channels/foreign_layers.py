"""Saying so, loudly, when a Django Channels app runs on a channel layer that cannot deliver here.

Channels' in-memory and Redis layers queue a message until the recipient's consumer reads it; on
Lambda no consumer outlives its event, so such a message is never read, and nothing says so. After
each WebSocket session of an app that uses Channels, the layers it built are checked: one that is
not `ConnectionsChannelLayer` is named in an ERROR, once per layer class per container.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("asgiway")

_reported: set[type] = set()


def report_foreign_layers() -> None:
    """Log an ERROR for each channel layer in use that cannot deliver on Lambda (once per class)."""
    layers_module = sys.modules.get("channels.layers")
    if layers_module is None:
        return
    from asgiway.contrib.channels.layer import ConnectionsChannelLayer

    manager = getattr(layers_module, "channel_layers", None)
    backends = getattr(manager, "backends", None)
    if not isinstance(backends, dict):
        return
    for alias, layer in list(backends.items()):
        kind = type(layer)
        if isinstance(layer, ConnectionsChannelLayer) or kind in _reported:
            continue
        _reported.add(kind)
        logger.error(
            "Channels' layer %r is a %s.%s: on Lambda no consumer outlives its event, so the messages "
            "it queues for consumers are never read. Set CHANNEL_LAYERS[%r]['BACKEND'] to "
            "'asgiway.contrib.channels.ConnectionsChannelLayer' (docs/frameworks.md)",
            alias,
            kind.__module__,
            kind.__qualname__,
            alias,
        )
