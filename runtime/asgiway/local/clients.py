"""The WebSocket clients connected right now, and the @connections API that reaches them.

A post never waits for the client to read: frames queue per client and a writer task sends them
in order, as API Gateway answers POST at once. A client that lets too many pile up is closed.
"""

from __future__ import annotations

import asyncio
import time

from asgiway.local import connections_api as wire
from asgiway.local.events import Client, now_ms
from asgiway.local.response import GatewayResponse
from asgiway.types import Message, Send

#: What API Gateway reports when a connection is closed through DELETE @connections.
DELETED = (1000, "Connection Closed Normally")
#: API Gateway's close for idleness, age, and here for a client that stopped reading.
GOING_AWAY = (1001, "Going away")
#: Frames a client may leave unread before it is closed.
MAX_PENDING_FRAMES = 1000


class LiveClient:
    """One open WebSocket: its outgoing frames, in order, and its activity for the timeouts."""

    def __init__(self, client: Client, send: Send) -> None:
        self.client = client
        self._send = send
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._closing = False
        #: The code and reason this side closed with, which is what the DISCONNECT reports.
        self.closed_by_server: tuple[int, str] | None = None
        self._writer = asyncio.create_task(self._write())
        #: LastActiveAt of GET @connections: the client's own last message.
        self.last_active_ms = client.connected_at
        #: What the idle timeout counts from: a message either way (a frame posted to the client
        #: keeps it open too, as services that send keep-alive frames from the server rely on).
        self.last_traffic = time.monotonic()

    @property
    def closing(self) -> bool:
        """Whether this side has closed the connection (or it has ended): it takes no more frames."""
        return self._closing

    def touch(self) -> None:
        """The client sent a message."""
        self.last_active_ms = now_ms()
        self.last_traffic = time.monotonic()

    def deliver(self, data: bytes) -> bool:
        """Queue one frame (text when it is UTF-8, as API Gateway posts); False when the client is gone."""
        if self._closing:
            return False
        if self._outbox.qsize() >= MAX_PENDING_FRAMES:
            self.close(*GOING_AWAY)
            return False
        message: Message = {"type": "websocket.send"}
        try:
            message["text"] = data.decode("utf-8")
        except UnicodeDecodeError:
            message["bytes"] = data
        self._outbox.put_nowait(message)
        self.last_traffic = time.monotonic()
        return True

    def close(self, code: int, reason: str) -> None:
        """Close after the frames already queued; later frames are refused."""
        if not self._closing:
            self._closing = True
            self.closed_by_server = (code, reason)
            self._outbox.put_nowait({"type": "websocket.close", "code": code, "reason": reason})

    def stop(self) -> None:
        """The connection has ended: nothing more will be written."""
        self._closing = True
        self._writer.cancel()

    async def _write(self) -> None:
        while True:
            message = await self._outbox.get()
            try:
                await self._send(message)
            except (OSError, RuntimeError):
                # The ASGI server refuses sends once the socket is closing or closed.
                self._closing = True
                return
            if message["type"] == "websocket.close":
                return


class LiveClients:
    def __init__(self) -> None:
        self._clients: dict[str, LiveClient] = {}

    def add(self, live: LiveClient) -> None:
        self._clients[live.client.connection_id] = live

    def remove(self, connection_id: str) -> None:
        self._clients.pop(connection_id, None)

    def answer(self, method: str, connection_id: str, data: bytes) -> GatewayResponse:
        """Serve one @connections call, as API Gateway would for this connection."""
        live = self._clients.get(connection_id)
        if live is None:
            return wire.gone()
        if method == "POST":
            return wire.too_large(len(data)) or (wire.OK if live.deliver(data) else wire.gone())
        if method == "GET":
            connected = live.client
            return wire.description(
                connected.connected_at, live.last_active_ms, connected.source_ip, connected.user_agent
            )
        if method == "DELETE":
            self.remove(connection_id)
            live.close(*DELETED)
            return wire.CLOSED
        return wire.error(403, f"{method} is not a method of @connections")
