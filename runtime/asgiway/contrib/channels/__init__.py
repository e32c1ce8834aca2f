"""Django Channels on asgiway: `ConnectionsChannelLayer`, the channel layer for `CHANNEL_LAYERS`.

    CHANNEL_LAYERS = {"default": {"BACKEND": "asgiway.contrib.channels.ConnectionsChannelLayer"}}

See `asgiway.contrib.channels.layer` and docs/frameworks.md.
"""

from asgiway.contrib.channels.layer import ConnectionsChannelLayer

__all__ = ["ConnectionsChannelLayer"]
