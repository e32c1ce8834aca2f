"""`ConnectionsChannelLayer`: Django Channels' channel layer on asgiway's connections and rooms.

    CHANNEL_LAYERS = {"default": {"BACKEND": "asgiway.contrib.channels.ConnectionsChannelLayer"}}

On Lambda no consumer outlives its event, so a layer that queues messages for a consumer to read
later (in memory, in Redis) delivers nothing. This one delivers by replaying:

- a consumer's `channel_name` is its connection (see `names`); groups are asgiway rooms, so
  `group_add`/`group_discard` join and leave the connection's record in the store;
- `send(channel_name, message)` and `group_send(group, message)` hand the message to the
  consumer of each recipient connection: the one serving this event takes it within the event
  (its handler, `chat_message` say, runs and its `self.send` posts); every other recipient's
  consumer is replayed once the event's session is over, with the message on its channel (see
  `deliveries`: on Lambda through asynchronous invocations, at least once).

The layer works inside WebSocket events served by asgiway's Adapter, where it knows the store and
the @connections endpoint; a send or group change outside one raises ConfigurationError. A
consumer outside a WebSocket event (Channels' HTTP consumers) gets a channel nothing is sent to.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, ClassVar

from asgiway.contrib.channels.deliveries import Message, checked_message
from asgiway.contrib.channels.names import channel_name_for, checked_group, connection_of
from asgiway.contrib.channels.session import SessionChannel, current_channel
from asgiway.exceptions import ConfigurationError

#: The channels of consumers outside WebSocket events: nothing can be sent to them.
OUTSIDE_EVENTS_PREFIX = "asgiway-outside-events!"


class ConnectionsChannelLayer:
    """The channel layer Channels builds from `CHANNEL_LAYERS` (it takes no CONFIG)."""

    extensions: ClassVar[list[str]] = ["groups"]

    def __init__(self, **config: Any) -> None:
        if config:
            raise ConfigurationError(
                f"ConnectionsChannelLayer takes no CONFIG (got {sorted(config)}): it uses the Adapter's "
                "store and @connections endpoint"
            )

    async def new_channel(self, prefix: str = "specific.") -> str:
        """The channel of the connection this event serves (`prefix` does not apply: the name is
        the connection's, the same in every event and container)."""
        session = current_channel()
        if session is None:
            return OUTSIDE_EVENTS_PREFIX + uuid.uuid4().hex
        return channel_name_for(session.connection_id)

    async def receive(self, channel: str) -> Message:
        """The next message on the channel of the connection this event serves."""
        session = current_channel()
        if session is not None and channel == channel_name_for(session.connection_id):
            return await session.receive()
        if session is None and isinstance(channel, str) and channel.startswith(OUTSIDE_EVENTS_PREFIX):
            await asyncio.get_running_loop().create_future()  # nothing is ever sent to it
        raise ConfigurationError(
            f"Only the consumer of the connection an event serves receives: on its channel, not {channel!r}"
        )

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Deliver `message` to the consumer of the connection `channel` stands for."""
        copy = checked_message(message)
        connection_id = connection_of(channel)
        _deliver(self._session("send"), connection_id, copy)

    async def group_add(self, group: str, channel: str) -> None:
        session = self._session("group_add")
        connection_id = connection_of(channel)
        await session.connections.join(checked_group(group), connection_id=connection_id)
        if connection_id == session.connection_id:
            session.joined.add(group)

    async def group_discard(self, group: str, channel: str) -> None:
        session = self._session("group_discard")
        connection_id = connection_of(channel)
        await session.connections.leave(checked_group(group), connection_id=connection_id)
        if connection_id == session.connection_id:
            session.joined.discard(group)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Deliver `message` to the consumer of every connection in the room `group`."""
        session = self._session("group_send")
        copy = checked_message(message)
        members = list(dict.fromkeys(await session.connections.members(checked_group(group))))
        if group in session.joined and session.connection_id not in members:
            members.append(session.connection_id)
        for connection_id in members:
            _deliver(session, connection_id, copy)

    async def flush(self) -> None:
        raise NotImplementedError("ConnectionsChannelLayer keeps no queue to flush: messages are replays")

    @staticmethod
    def _session(operation: str) -> SessionChannel:
        session = current_channel()
        if session is None:
            raise ConfigurationError(
                f"ConnectionsChannelLayer.{operation}() works inside a WebSocket event served by "
                "asgiway's Adapter (a consumer's handlers): there it knows the store and the "
                "@connections endpoint. Elsewhere, reach clients with asgiway.Connections"
            )
        return session


def _deliver(session: SessionChannel, connection_id: str, message: Message) -> None:
    if connection_id == session.connection_id:
        session.put(checked_message(message))  # a copy of its own, as any other recipient gets
    else:
        session.send_later(connection_id, message)
