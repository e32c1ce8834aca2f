"""Channel names ↔ connection ids, and the names Channels allows for channels and groups.

A consumer's `channel_name` is its connection's id, escaped into what Channels allows in a channel
name (ASCII letters, digits, `-`, `_` and `.`): every other character becomes `.` and two hex
digits, so `Hh7=Jj8=` is `asgiway.Hh7.3dJj8.3d`. The mapping is one to one, so the name alone says
where a message goes, in any container.
"""

from __future__ import annotations

import re

#: Every channel name this layer makes starts with it.
CHANNEL_PREFIX = "asgiway."
#: Channels refuses longer channel and group names (BaseChannelLayer.MAX_NAME_LENGTH).
MAX_NAME_LENGTH = 100

_KEPT = re.compile(r"[A-Za-z0-9_-]")
_ESCAPE = re.compile(r"\.([0-9a-f]{2})")
_CHANNEL_NAME = re.compile(r"asgiway\.(?:[A-Za-z0-9_-]|\.[0-9a-f]{2})+")
_GROUP_NAME = re.compile(r"[a-zA-Z\d\-_.]+")


class InvalidNameError(ValueError):
    """A channel or group name Channels would refuse, or a channel this layer did not make."""


def channel_name_for(connection_id: str) -> str:
    escaped = "".join(char if _KEPT.fullmatch(char) else f".{ord(char):02x}" for char in connection_id)
    name = CHANNEL_PREFIX + escaped
    if len(name) >= MAX_NAME_LENGTH or any(ord(char) > 0xFF for char in connection_id):
        raise InvalidNameError(f"Connection id {connection_id[:40]!r} makes no valid channel name")
    return name


def connection_of(channel: object) -> str:
    """The connection id a channel name of this layer stands for; InvalidNameError for any other."""
    if not isinstance(channel, str) or not _CHANNEL_NAME.fullmatch(channel):
        raise InvalidNameError(
            f"{channel!r} is no channel of asgiway's layer: its channel names are consumers' "
            "self.channel_name, one per WebSocket connection"
        )
    return _ESCAPE.sub(lambda found: chr(int(found[1], 16)), channel[len(CHANNEL_PREFIX) :])


def checked_group(group: object) -> str:
    """`group`, if Channels allows it as a group name (letters, digits, `-`, `_`, `.`, under 100)."""
    if not isinstance(group, str) or len(group) >= MAX_NAME_LENGTH or not _GROUP_NAME.fullmatch(group):
        raise InvalidNameError(
            f"Group name {group!r} must be ASCII letters, digits, hyphens, underscores or periods, "
            f"shorter than {MAX_NAME_LENGTH}"
        )
    return group
