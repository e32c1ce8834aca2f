"""One WebSocket client's life through API Gateway: `$connect`, a MESSAGE per frame, `$disconnect`.

With `--authorizer`, the handshake first passes the `$connect` authorizer (see
`asgiway.local.authorizer`), whose refusal is the handshake's answer. It then waits for the
CONNECT invocation: a 2xx accepts (with the `Sec-WebSocket-Protocol` the function returned), any
other status is the handshake's answer, a function error a 502. The client's frames become MESSAGE
events on the route each selects (see `asgiway.local.routes`), invoked one at a time in the order
they came; a failed one sends the client API Gateway's `Internal server error` frame, one that
reaches no route its `Forbidden` frame. A binary frame closes with 1003, idleness and age with
1001, a backlog over its bound with 1008, and the close, whoever made it, becomes the DISCONNECT
event. Frames waiting behind a running MESSAGE are dropped when the connection ends (see
`asgiway.local.backlog`): a client that has left, or an emulator that stops, waits for no backlog.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from asgiway.local.authorizer import (
    AuthorizerSettings,
    AuthorizerVerdict,
    authorizer_event,
    method_arn,
    verdict_of,
)
from asgiway.local.backlog import MAX_WAITING_BYTES, MAX_WAITING_FRAMES, FrameBacklog
from asgiway.local.clients import GOING_AWAY, LiveClient
from asgiway.local.events import Client, connect_event, disconnect_event, message_event, new_id
from asgiway.local.http_api import BAD_GATEWAY
from asgiway.local.instances import Invocation
from asgiway.local.response import GatewayResponse, MalformedResultError, proxy_response
from asgiway.local.routes import RouteTable
from asgiway.management_api import environment_region
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
    routes: RouteTable = field(default_factory=RouteTable)
    authorizer: AuthorizerSettings | None = None


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


def error_frame(message: str, connection_id: str, request_id: str) -> bytes:
    """A frame API Gateway sends a client when it could not deliver a message, spacing included."""
    return (
        f'{{"message": {json.dumps(message)}, "connectionId":{json.dumps(connection_id)}, '
        f'"requestId":{json.dumps(request_id)}}}'
    ).encode()


def internal_error_frame(connection_id: str, request_id: str) -> bytes:
    """The frame for a MESSAGE whose integration failed."""
    return error_frame("Internal server error", connection_id, request_id)


def forbidden_frame(connection_id: str, request_id: str) -> bytes:
    """The frame for a message no route takes (no match, and no `$default`): the documentation says
    only that "the service returns an error" (websocket-api-develop-routes.html); its text is the one
    clients report, e.g. https://github.com/aws-samples/simple-websockets-chat-app/issues/24."""
    return error_frame("Forbidden", connection_id, request_id)


#: The handshake's answer when the authorizer refuses, as API Gateway words them.
_AUTHORIZER_REFUSALS = {401: "Unauthorized", 403: "Forbidden", 500: "Internal Server Error"}


def _unrouted(value: str | None) -> str:
    """Why a message got no route of its own, for the log. Only a value no `--route` declares is
    worth a note on `$default`: it is the sign of a missing `--route` or a typo."""
    return "" if value is None else f"no route {value!r} (see --route)"


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
        settings = gateway.websocket.authorizer
        if settings is not None:
            verdict = await self._authorize(settings, client, port)
            if verdict.status != 200:
                await self._refuse(
                    GatewayResponse.message(verdict.status, _AUTHORIZER_REFUSALS[verdict.status])
                )
                return None
            client = replace(client, authorizer=verdict.authorizer)
        invocation = await gateway.pool.invoke(connect_event(gateway.stage, client, port=port, proto="http"))
        answer = handshake_answer(invocation)
        gateway.log_invocation("CONNECT", client.connection_id, "$connect", invocation, status=answer.status)
        if not 200 <= answer.status < 300:
            await self._refuse(answer)
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

    async def _authorize(self, settings: AuthorizerSettings, client: Client, port: int) -> AuthorizerVerdict:
        """Run the `$connect` authorizer, unless an identity source is missing (401 without a call)."""
        gateway = self._gateway
        missing = settings.missing_identity(client)
        if missing is not None:
            gateway.log.event("AUTHORIZE", client.connection_id, "$connect", 401, 0, note=f"no {missing}")
            return AuthorizerVerdict(401)
        region = environment_region()
        event = authorizer_event(gateway.stage, client, region=region, port=port, proto="http")
        invocation = await gateway.pool.invoke(event, authorizer=True)
        verdict = verdict_of(invocation, method_arn(gateway.stage, region))
        if verdict.problem:
            logger.warning("Refused %s with 500: %s", client.connection_id, verdict.problem)
        note = (
            ""
            if verdict.status != 200
            else f"principalId {verdict.authorizer and verdict.authorizer['principalId']}"
        )
        gateway.log_invocation(
            "AUTHORIZE", client.connection_id, "$connect", invocation, status=verdict.status, note=note
        )
        return verdict

    async def _refuse(self, answer: GatewayResponse) -> None:
        """Answer the handshake with `answer` instead of accepting it."""
        headers = answer.headers
        if answer.header("content-type") is None:
            headers = [*headers, (b"content-type", b"text/plain; charset=utf-8")]
        await self._send(
            {"type": "websocket.http.response.start", "status": answer.status, "headers": headers}
        )
        await self._send({"type": "websocket.http.response.body", "body": answer.body})

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
            selection = gateway.websocket.routes.select(data)
            if selection.route is None:
                live.deliver(forbidden_frame(client.connection_id, new_id()))
                gateway.log.event(
                    "MESSAGE",
                    client.connection_id,
                    "(no route)",
                    403,
                    0,
                    note=_unrouted(selection.value) or "no route value and no $default",
                )
                continue
            event = message_event(gateway.stage, client, data, route_key=selection.route)
            invocation = await gateway.pool.invoke(event)
            note = _unrouted(selection.value) if selection.route != selection.value else ""
            gateway.log_invocation("MESSAGE", client.connection_id, selection.route, invocation, note=note)
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
