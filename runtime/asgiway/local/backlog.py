"""A client's frames waiting for their MESSAGE invocations: bounded, and dropped once it has left.

The emulator invokes a connection's MESSAGEs one at a time, in order. API Gateway hands every frame
to its integration as it arrives, so a frame that arrives while none of the connection's MESSAGEs
runs is handed over at once here too, and runs even if the client leaves right after. Only frames
that arrive while a MESSAGE runs wait: a backlog API Gateway does not have, so it is dropped when
the connection ends, and it is bounded for the emulator's memory's sake. 4 MiB is 32 messages at
API Gateway's 128 KB message limit, or 128 frames at its 32 KB frame limit, see
https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-execution-service-websocket-limits-table.html;
1,000 frames, as many as a client may leave unread the other way (`clients.MAX_PENDING_FRAMES`),
bounds the small ones. A browser app's bursts fit many times over; a flood does not.
"""

from __future__ import annotations

import asyncio
from collections import deque

#: Frames a client may have waiting, and their total size in bytes (UTF-8 for text).
MAX_WAITING_FRAMES = 1000
MAX_WAITING_BYTES = 4 * 1024 * 1024


class FrameBacklog:
    """Frames in arrival order, for one consumer; `end()` drops those still waiting."""

    def __init__(self, max_frames: int = MAX_WAITING_FRAMES, max_bytes: int = MAX_WAITING_BYTES) -> None:
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._waiting: deque[tuple[str | bytes, int]] = deque()
        self._bytes = 0
        self._ended = False
        #: The consumer, when it is idle: waiting for the next frame, which then goes straight to it.
        self._consumer: asyncio.Future[str | bytes | None] | None = None

    def push(self, data: str | bytes) -> bool:
        """Hand a frame over, or queue it; False, queueing nothing, when it would go over a bound."""
        if self._ended:
            return False
        if self._consumer is not None and not self._consumer.done():
            self._consumer.set_result(data)
            return True
        size = len(data.encode()) if isinstance(data, str) else len(data)
        if len(self._waiting) >= self._max_frames or self._bytes + size > self._max_bytes:
            return False
        self._waiting.append((data, size))
        self._bytes += size
        return True

    def drop(self) -> None:
        """Forget the frames waiting: none of them will be invoked."""
        self._waiting.clear()
        self._bytes = 0

    def end(self) -> None:
        """The connection has ended: drop what waits, and let `next()` say so."""
        self.drop()
        self._ended = True
        if self._consumer is not None and not self._consumer.done():
            self._consumer.set_result(None)

    async def next(self) -> str | bytes | None:
        """The oldest waiting frame, else the next to arrive; None once the backlog has ended."""
        if self._waiting:
            data, size = self._waiting.popleft()
            self._bytes -= size
            return data
        if self._ended:
            return None
        self._consumer = asyncio.get_running_loop().create_future()
        try:
            return await self._consumer
        finally:
            self._consumer = None
