"""API Gateway's size limits on what a WebSocket client sends, enforced as the frames arrive.

API Gateway closes a connection with 1009 when a client's frame is over 32 KB or its message over
128 KB (the WebSocket frame size and message payload quotas of
https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html), with the reason
"Message too big" for a message over 128 KB. No capture shows the reason for a frame over 32 KB;
the same one is used. An ASGI app only sees whole messages, so the limits are set on
the WebSocket protocol object itself: uvicorn's websockets (sans-I/O) protocol, whose parser checks
both sizes, with API Gateway's close reason in place of the library's own text.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.frames import CloseCode
from websockets.server import ServerProtocol

from asgiway.management_api import MAX_MESSAGE_BYTES

#: API Gateway's largest frame from a client.
MAX_FRAME_BYTES = 32 * 1024
#: The close reason API Gateway gives with 1009.
MESSAGE_TOO_BIG = "Message too big"


class _GatewayLimits(ServerProtocol):
    """websockets' server side, failing oversized frames and messages with API Gateway's reason."""

    def fail(self, code: CloseCode | int, reason: str = "") -> None:
        super().fail(code, MESSAGE_TOO_BIG if code == CloseCode.MESSAGE_TOO_BIG else reason)


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol with API Gateway's frame and message limits."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # Nothing has reached the connection yet: it is replaced whole, its settings kept.
        self.conn = _GatewayLimits(
            extensions=self.conn.available_extensions,
            max_size=(MAX_MESSAGE_BYTES, MAX_FRAME_BYTES),
            logger=self.conn.logger,
        )
