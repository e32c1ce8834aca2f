"""One WebSocket client's life through API Gateway: `$connect`, a MESSAGE per frame, `$disconnect`.

The handshake waits for the CONNECT invocation: a 2xx accepts (with the `Sec-WebSocket-Protocol`
the function returned), any other status is the handshake's answer, a function error a 502. The
client's frames become MESSAGE events, invoked one at a time in the order they came; a failed one
sends the client API Gateway's `Internal server error` frame. A binary frame closes with 1003,
idleness and age with 1001, a backlog over its bound with 1008, and the close, whoever made it,
becomes the DISCONNECT event. Frames waiting behind a running MESSAGE are dropped when the
connection ends (see `asgiway.local.backlog`): a client that has left, or an emulator that stops,
waits for no backlog.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asgiway.local.backlog import MAX_WAITING_BYTES, MAX_WAITING_FRAMES, FrameBacklog
from asgiway.local.clients import GOING_AWAY, LiveClient
from asgiway.local.events import Client, connect_event, disconnect_event, message_event
from asgiway.local.http_api import BAD_GATEWAY
from asgiway.local.instances import Invocation
from asgiway.local.response import GatewayResponse, MalformedResultError, proxy_response
from asgiway.types import Message, Receive, Scope, Send

if TYPE_CHECKING:
    from asgiway.local.gateway import Gateway

logger = logging.getLogger("asgiway.local")

#: API Gateway's close for a binary frame from the client.
UNSUPPORTED_DATA = (1003, "Unsupported data")
#: The close for a client whose frames pile up faster than the function takes them (policy violation).
TOO_MANY_WAITING = (1008, "Too many messages waiting")
#: The reason API Gateway reports for a close frame that carried no status code.
NO_STATUS_REASON = "Client-side close frame status not set"


@dataclass(frozen=True)
class WebSocketSettings:
    idle_timeout: float = 600.0
    max_duration: float = 7200.0
    allow_binary: bool = False
    two_way_replies: bool = False


@dataclass(frozen=True)
class _Closed:
    code: int
    reason: str


def handshake_answer(invocation: Invocation) -> GatewayResponse:
    """What the `$connect` result makes of the handshake: a 2xx accepts, any other status refuses."""
    if invocation.timed_out:
        return GatewayResponse.message(504, "Endpoint request timed out")
    if invocation.error is not None:
        return BAD_GATEWAY
    try:
        return proxy_response(invocation.result)
    except MalformedResultError:
        return BAD_GATEWAY


def internal_error_frame(connection_id: str, request_id: str) -> bytes:
    """The frame API Gateway sends a client when its MESSAGE integration failed, spacing included."""
    return (
        f'{{"message": "Internal server error", "connectionId":{json.dumps(connection_id)}, '
        f'"requestId":{json.dumps(request_id)}}}'
    ).encode()


#: The code uvicorn closes its clients with when it stops (1012, service restart): the emulator is
#: going away, which API Gateway reports as 1001.
SERVER_STOPPING = 1012


def closed_with(message: Message) -> _Closed:
    """The DISCONNECT's code and reason from the ASGI server's `websocket.disconnect`.

    A 1005 without a reason means no close frame arrived at all (the socket dropped): 1006.
    """
    code = int(message.get("code", 1005))
    if code == SERVER_STOPPING:
        return _Closed(*GOING_AWAY)
    if code == 1005 and "reason" not in message:
        return _Closed(1006, "")
    return _Closed(code, message.get("reason") or (NO_STATUS_REASON if code == 1005 else ""))


class WebSocketSession:
    def __init__(self, gateway: Gateway, scope: Scope, receive: Receive, send: Send) -> None:
        self._gateway = gateway
        self._scope = scope
        self._receive = receive
        self._send = send
        self._backlog = FrameBacklog()
        #: How the connection ended, for its DISCONNECT; set when the backlog ends.
        self._closed = _Closed(1006, "")

    async def run(self) -> None:
        if (await self._receive())["type"] != "websocket.connect":
            return
        client = Client.from_upgrade(
            self._scope["headers"],
            (self._scope.get("client") or ("127.0.0.1", 0))[0],
            self._scope["query_string"],
        )
        live = await self._connect(client)
        if live is None:
            return
        gateway = self._gateway
        gateway.clients.add(live)
        invoker = asyncio.create_task(self._invoke_in_order(live))
        watchdog = asyncio.create_task(self._watch(live))
        try:
            closed = await self._read(live)
        finally:
            gateway.clients.remove(client.connection_id)
            watchdog.cancel()
            live.stop()
        if live.closed_by_server is not None:
            # Closed from this side: that is the close API Gateway reports, even when the close
            # frame never got through (a client that stopped reading only drops in the end).
            closed = _Closed(*live.closed_by_server)
        self._end(closed)
        await invoker

    def _end(self, closed: _Closed) -> None:
        """The connection has ended: its DISCONNECT comes next, after the MESSAGE running, if any."""
        self._closed = closed
        self._backlog.end()

    async def _connect(self, client: Client) -> LiveClient | None:
        gateway = self._gateway
        port = (self._scope.get("server") or ("", 80))[1]
        invocation = await gateway.pool.invoke(connect_event(gateway.stage, client, port=port, proto="http"))
        answer = handshake_answer(invocation)
        gateway.log_invocation("CONNECT", client.connection_id, "$connect", invocation, status=answer.status)
        if not 200 <= answer.status < 300:
            headers = answer.headers
            if answer.header("content-type") is None:
                headers = [*headers, (b"content-type", b"text/plain; charset=utf-8")]
            await self._send(
                {"type": "websocket.http.response.start", "status": answer.status, "headers": headers}
            )
            await self._send({"type": "websocket.http.response.body", "body": answer.body})
            return None
        live = LiveClient(client, self._send)
        try:
            await self._send(
                {"type": "websocket.accept", "subprotocol": answer.header("sec-websocket-protocol")}
            )
        except OSError:
            # The client left during the handshake; API Gateway still reports the connection's end.
            live.stop()
            self._end(_Closed(1006, ""))
            await self._invoke_in_order(live)
            return None
        return live

    async def _read(self, live: LiveClient) -> _Closed:
        while True:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                return closed_with(message)
            live.touch()
            if live.closing:
                continue  # closed from this side: API Gateway routes nothing more from the client
            data = message.get("text")
            if data is None:
                if not self._gateway.websocket.allow_binary:
                    live.close(*UNSUPPORTED_DATA)
                    continue
                data = message.get("bytes") or b""
            if not self._backlog.push(data):
                # The function is not keeping up with this client: what it sent is not worth the
                # function's time, and it goes now rather than grow the emulator's memory.
                self._backlog.drop()
                live.close(*TOO_MANY_WAITING)
                logger.warning(
                    "Closed %s with 1008: over %d frames or %d bytes waiting for their MESSAGE",
                    live.client.connection_id,
                    MAX_WAITING_FRAMES,
                    MAX_WAITING_BYTES,
                )

    async def _invoke_in_order(self, live: LiveClient) -> None:
        """Invoke each frame's MESSAGE, then the DISCONNECT, one after the other."""
        gateway = self._gateway
        client = live.client
        while True:
            data = await self._backlog.next()
            if data is None:
                closed = self._closed
                event = disconnect_event(gateway.stage, client, code=closed.code, reason=closed.reason)
                invocation = await gateway.pool.invoke(event)
                note = f"{closed.code} {closed.reason}".strip()
                gateway.log_invocation(
                    "DISCONNECT", client.connection_id, "$disconnect", invocation, note=note
                )
                return
            event = message_event(gateway.stage, client, data)
            invocation = await gateway.pool.invoke(event)
            gateway.log_invocation("MESSAGE", client.connection_id, "$default", invocation)
            if invocation.failed:
                request_id = event["requestContext"]["requestId"]
                live.deliver(internal_error_frame(client.connection_id, request_id))
            elif gateway.websocket.two_way_replies:
                self._reply(live, invocation.result)

    def _reply(self, live: LiveClient, result: Any) -> None:
        """A route response: the result's body goes back to the client."""
        body = result.get("body") if isinstance(result, dict) else None
        if isinstance(body, str) and body:
            live.deliver(body.encode())

    async def _watch(self, live: LiveClient) -> None:
        """Close the client once idle too long or connected too long, as API Gateway does."""
        settings = self._gateway.websocket
        opened = time.monotonic()
        while True:
            deadline = min(live.last_traffic + settings.idle_timeout, opened + settings.max_duration)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                live.close(*GOING_AWAY)
                return
            await asyncio.sleep(remaining)
