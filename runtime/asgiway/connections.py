"""`Connections`: reach any WebSocket client of the app, not only the caller.

Inside an event, `Connections.of(websocket)` is bound to the caller's connection and to the
Adapter's store and @connections endpoint. Outside one (an HTTP route, a script, a scheduled job),
`Connections(dsn=..., endpoint_url=...)` builds the same from a dsn and the API's stage URL.

Every method is `async`: the store and @connections calls run in threads, so the app's event loop
is never blocked. A broadcast posts to every member at once through a bounded pool sharing one
boto3 client, marks the connections that answer 410 gone (out of every room, their records kept for
their DISCONNECT), and reports what it could not deliver.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from asgiway.backends import Backend, from_dsn
from asgiway.backends.base import CLOSED, GONE
from asgiway.broadcast_shards import DEFAULT_SHARD_SIZE, hand_over, own_share, post_rate, shard_events
from asgiway.deferred import wait_for_delivery
from asgiway.exceptions import BackendError, ConfigurationError, TooManyRoomsError
from asgiway.management_api import (
    MAX_CONCURRENT_CALLS,
    ConnectionsApiError,
    ManagementApi,
    check_message_size,
    client_for,
    configured_endpoint_url,
)

#: The scope key under which an event's `Connections` travels to the app.
CONNECTIONS_SCOPE_KEY = "asgiway.connections"
#: A 410 from a connection this young may only mean its `$connect` has not returned yet.
HANDSHAKE_GRACE_SECONDS = 10.0
#: Each membership costs writes at join and again at `$disconnect` (two DynamoDB items or S3
#: objects), all within one event: a connection joins at most this many rooms.
MAX_ROOMS_PER_CONNECTION = 100

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _fan_out_pool() -> ThreadPoolExecutor:
    """One pool per container, sized to the @connections client's HTTP pool."""
    global _pool  # noqa: PLW0603 - created on first broadcast, then shared by every Connections
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=MAX_CONCURRENT_CALLS, thread_name_prefix="asgiway-fan-out")
        return _pool


@dataclass
class BroadcastResult:
    """What a broadcast did: `sent` reached their client, `gone` had left (410) and are out of their
    rooms from now on, `failed` maps the others to the reason (throttled after retries, 403, 5xx,
    timeouts), `queued` were handed to other invocations, in shards, and are still in flight."""

    sent: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    #: Handed to shards (`asgiway.broadcast_shards`): still in flight when the broadcast returns.
    queued: list[str] = field(default_factory=list)


class Connections:
    """The app's WebSocket connections: `send`, `close`, `info`, `broadcast`, and rooms.

    `connection_id` is the caller's in an event (the default of `join`, `leave`); None outside one.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        endpoint_url: str | None = None,
        backend: Backend | None = None,
        connection_id: str | None = None,
        shard_size: int = DEFAULT_SHARD_SIZE,
    ) -> None:
        if shard_size < 1:
            raise ConfigurationError("shard_size must be at least 1")
        if backend is None:
            if dsn is None:
                raise ConfigurationError("Connections needs the store: pass dsn= (or backend=)")
            backend = from_dsn(dsn)
        endpoint_url = endpoint_url or configured_endpoint_url()
        if endpoint_url is None:
            raise ConfigurationError(
                "Connections needs the @connections endpoint: pass endpoint_url='https://{api-id}"
                ".execute-api.{region}.amazonaws.com/{stage}' or set AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"
            )
        self.backend = backend
        self.endpoint_url = endpoint_url
        self.connection_id = connection_id
        #: A broadcast posts at most this many targets itself; the rest go to shards.
        self.shard_size = shard_size
        #: A `time.monotonic()` by which broadcasts give up: the event's own deadline in an event.
        self.deadline: float | None = None
        self._own_frames: Callable[[str | bytes], None] | None = None
        # Rooms joined in this event: at CONNECT the store shows none until the record is saved.
        self._joined: dict[str, set[str]] = {}

    @classmethod
    def of(cls, websocket_or_scope: Any) -> Connections:
        """The Connections of the event a Starlette/FastAPI WebSocket (or an ASGI scope) serves."""
        scope = getattr(websocket_or_scope, "scope", websocket_or_scope)
        found = scope.get(CONNECTIONS_SCOPE_KEY) if isinstance(scope, dict) else None
        if not isinstance(found, Connections):
            raise ConfigurationError(
                "Connections.of() works inside a WebSocket event served by asgiway's Adapter; "
                "elsewhere build Connections(dsn=..., endpoint_url=...)"
            )
        return found

    def hold_own_frames(self, sink: Callable[[str | bytes], None] | None) -> None:
        """Route frames for the caller to `sink` (None: post them again).

        The adapter does so while the caller is in its CONNECT, when API Gateway refuses posts:
        the frames are delivered right after the handshake instead.
        """
        self._own_frames = sink

    @property
    def api(self) -> ManagementApi:
        return client_for(self.endpoint_url)

    async def send(self, connection_id: str, data: str | bytes) -> bool:
        """Send one frame; False when the client has left (then marked gone, and never posted to
        again) or is still completing its handshake (then kept)."""
        check_message_size(data)
        return bool(await asyncio.to_thread(self._send_one, connection_id, data))

    async def close(self, connection_id: str | None = None) -> bool:
        """Close a connection (the caller's by default); False when it had already left.

        The connection leaves its rooms at once; its record goes with the DISCONNECT that follows.
        """
        target = self._target(connection_id)
        if target == self.connection_id and self._own_frames is not None:
            raise ConfigurationError(
                "The caller is still in its handshake: refuse it with websocket.close() instead"
            )
        await asyncio.to_thread(self.backend.end, target, CLOSED)
        return await asyncio.to_thread(self.api.delete, target)

    async def info(self, connection_id: str | None = None) -> dict[str, Any] | None:
        """ConnectedAt, Identity and LastActiveAt of a connection, or None when it has left."""
        return await asyncio.to_thread(self.api.info, self._target(connection_id))

    async def join(self, room: str, *, connection_id: str | None = None) -> None:
        """Add the connection to the room; TooManyRoomsError past MAX_ROOMS_PER_CONNECTION."""
        await asyncio.to_thread(self._join, self._target(connection_id), room)

    async def leave(self, room: str, *, connection_id: str | None = None) -> None:
        target = self._target(connection_id)
        await asyncio.to_thread(self.backend.leave, target, room)
        self._joined.get(target, set()).discard(room)

    async def members(self, room: str) -> list[str]:
        return await asyncio.to_thread(self.backend.members, room)

    async def rooms(self, connection_id: str | None = None) -> list[str]:
        return await asyncio.to_thread(self.backend.rooms, self._target(connection_id))

    async def broadcast(
        self, data: str | bytes, room: str | None = None, exclude: Iterable[str] = ()
    ) -> BroadcastResult:
        """Send `data` to every live connection, or to the room's, but those in `exclude`.

        A frame over API Gateway's 128 KB is refused at once with MessageTooLargeError.
        """
        check_message_size(data)
        return await asyncio.to_thread(self._fan_out, data, room, frozenset(exclude))

    def _join(self, connection_id: str, room: str) -> None:
        held = set(self.backend.rooms(connection_id)) | self._joined.get(connection_id, set())
        if room not in held and len(held) >= MAX_ROOMS_PER_CONNECTION:
            raise TooManyRoomsError(
                f"Connection {connection_id} is already in {len(held)} rooms, the most a connection may"
                f" join (MAX_ROOMS_PER_CONNECTION); leave one before joining {room!r}"
            )
        self.backend.join(connection_id, room)
        self._joined.setdefault(connection_id, set()).add(room)

    def _fan_out(self, data: str | bytes, room: str | None, exclude: frozenset[str]) -> BroadcastResult:
        listed = self.backend.members(room) if room is not None else self.backend.connections()
        targets = [connection_id for connection_id in listed if connection_id not in exclude]
        own = own_share(targets, self.shard_size, self.deadline) if targets else 0
        # The shards start first: they run alongside this event's own posts.
        events, unsharded = shard_events(data, targets[own:], self.shard_size)
        refused = hand_over(events, self._post_shard)
        started = time.monotonic()
        result = self.post_to([*targets[:own], *unsharded], data)
        post_rate.record(len(result.sent) + len(result.gone), time.monotonic() - started, len(result.failed))
        result.failed.update(refused)
        not_queued = refused.keys() | set(unsharded)
        result.queued = [connection_id for connection_id in targets[own:] if connection_id not in not_queued]
        return result

    def _post_shard(self, data: str | bytes, connection_ids: list[str]) -> BroadcastResult:
        """A shard run in this process (no Lambda): the same posts, on a Connections of its own,
        with no deadline, since no event waits for it."""
        return Connections(backend=self.backend, endpoint_url=self.endpoint_url).post_to(connection_ids, data)

    def post_to(self, connection_ids: list[str], data: str | bytes) -> BroadcastResult:
        """Post `data` to exactly these connections, within the deadline, never sharding: what a
        broadcast does with its own share, and a shard with its ids."""
        result = BroadcastResult()
        pool = _fan_out_pool()
        futures = {
            pool.submit(self._deliver, connection_id, data): connection_id for connection_id in connection_ids
        }
        timeout = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
        done, late = wait(futures, timeout=timeout)
        for future in late:
            # Out of time: what has not started never will, so no post outlives the event.
            future.cancel()
            result.failed[futures[future]] = "no answer before the event's deadline"
        for future in done:
            connection_id = futures[future]
            try:
                outcome = future.result()
            except (ConnectionsApiError, BackendError) as exc:
                result.failed[connection_id] = str(exc)
                continue
            if outcome is None:
                result.failed[connection_id] = "410 while its handshake may still be completing; kept"
            else:
                (result.sent if outcome else result.gone).append(connection_id)
        return result

    def _send_one(self, connection_id: str, data: str | bytes) -> bool | None:
        """`_deliver`, unless the connection has already ended: nothing is posted to it again.
        (A broadcast needs no such read: rooms and listings leave ended connections out.)"""
        record = self.backend.load(connection_id)
        if record is not None and record.ended is not None:
            return False
        return self._deliver(connection_id, data)

    def _deliver(self, connection_id: str, data: str | bytes) -> bool | None:
        """True when delivered, False when the client has left (it is then marked gone: out of its
        rooms, its record kept for its DISCONNECT), None for a 410 from a connection too young to
        tell: API Gateway answers 410 until `$connect` has returned, and the record is saved just
        before that."""
        if connection_id == self.connection_id and self._own_frames is not None:
            self._own_frames(data)  # the caller is still in its handshake: delivered right after it
            return True
        wait_for_delivery(connection_id)  # its CONNECT frames, if still on their way, come first
        if self.api.post(connection_id, data, self.deadline):
            return True
        record = self.backend.load(connection_id)
        if record is not None and record.ended is None and record.age < HANDSHAKE_GRACE_SECONDS:
            return None
        self.backend.end(connection_id, GONE)
        return False

    def _target(self, connection_id: str | None) -> str:
        target = connection_id or self.connection_id
        if target is None:
            raise ConfigurationError(
                "Name the connection: connection_id= (there is no caller outside an event)"
            )
        return target
