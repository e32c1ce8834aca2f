"""The channel of one WebSocket session: what the layer hands the consumer serving this event, and
what the consumer sends to other connections' channels, delivered once the session is over.

The lifecycle gives every session one (`current_channel`, a context variable the app's tasks
inherit, threads of sync consumers included); only an app on `ConnectionsChannelLayer` uses it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from asgiway.connections import Connections
from asgiway.protocols.idle import SessionActivity

Message = dict[str, Any]

_current: ContextVar[SessionChannel | None] = ContextVar("asgiway_session_channel", default=None)


def current_channel() -> SessionChannel | None:
    """The channel of the WebSocket session this code runs in, or None outside one."""
    return _current.get()


class SessionChannel:
    """One session's channel: `incoming` messages for its consumer, `outgoing` ones for others."""

    def __init__(
        self,
        connection_id: str,
        connections: Connections,
        activity: SessionActivity,
        incoming: Iterable[Message] = (),
    ) -> None:
        self.connection_id = connection_id
        self.connections = connections
        self._activity = activity
        self._incoming: deque[Message] = deque()
        #: What this session was replayed for, given to the consumer once its replayed handshake
        #: is over: what it sends during that handshake is not delivered again.
        self._held: deque[Message] = deque(incoming)
        self._arrival: asyncio.Future[None] | None = None
        #: (connection id, message), in the order the app sent them.
        self.outgoing: list[tuple[str, Message]] = []
        #: Groups this connection joined in this session: at CONNECT the store lists no member
        #: until the connection's record is saved.
        self.joined: set[str] = set()

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Make this the channel of the code that runs within (the app's tasks copy it)."""
        token = _current.set(self)
        try:
            yield
        finally:
            _current.reset(token)

    @property
    def untaken(self) -> int:
        """How many messages for this session's consumer it never took."""
        return len(self._held) + len(self._incoming)

    def release(self) -> None:
        """The consumer's replayed handshake is over: give it what the session was replayed for."""
        while self._held:
            self.put(self._held.popleft())

    def put(self, message: Message) -> None:
        """A message for this session's own consumer: it takes it within this session."""
        self._incoming.append(message)
        if self._arrival is not None and not self._arrival.done():
            self._arrival.set_result(None)

    def send_later(self, connection_id: str, message: Message) -> None:
        """A message for another connection's consumer, delivered once this session is over."""
        self.outgoing.append((connection_id, message))

    async def receive(self) -> Message:
        """The next message for this session's consumer; with none left, an input wait: the session
        may end while it lasts (see asgiway.protocols.idle)."""
        while not self._incoming:
            self._arrival = asyncio.get_running_loop().create_future()
            await self._activity.wait_for_input(self._arrival)
        return self._incoming.popleft()
