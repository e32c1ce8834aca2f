"""One API Gateway WebSocket event, end to end: the store, the ASGI session, the reply to Lambda.

- CONNECT: 200 once the app accepted (with Sec-WebSocket-Protocol when it chose one); 403 when
  it closed or never answered the handshake; the denial's own status for a
  `websocket.http.response`; 500 when it raised; 504 when it ran out of time. An app that accepts,
  then closes, gets a 200: its frames go out after the handshake, then the connection is closed.
- MESSAGE: 200; an app's `websocket.close` closes the connection through @connections.
- DISCONNECT: 200; the app is replayed once with the real close code, and the record is removed
  whatever the app did.
- MESSAGE for an unknown connection: 410, and the connection is closed so its client can reconnect.

The record (scope and per-connection state) is stored only once the app accepted at CONNECT. A
connection can end before its DISCONNECT: @connections answers 410 (the peer is gone) or the app
closes it. Its record is then marked ended (out of every room, left out of broadcasts, a MESSAGE
for it answered 410) and stays until that DISCONNECT: a gone one's replays the app once, with the
stored state, so disconnect handlers run; a closed one's is the close's echo and only removes it.

Every session has a channel (`asgiway.contrib.channels.session`), which Django Channels apps on
`ConnectionsChannelLayer` use: messages its consumer sends to other connections are delivered once
the session is over, each recipient's consumer replayed with them (`deliver_channel_messages`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from asgiway.backends import Backend, ConnectionRecord
from asgiway.backends.base import CLOSED, EXPIRY_MARGIN_SECONDS, GONE
from asgiway.connections import CONNECTIONS_SCOPE_KEY, Connections
from asgiway.contrib.channels.deliveries import Delivery, by_recipient, hand_over, lambda_function
from asgiway.contrib.channels.deliveries import Message as ChannelMessage
from asgiway.contrib.channels.foreign_layers import report_foreign_layers
from asgiway.contrib.channels.session import SessionChannel
from asgiway.credentials import without_credentials
from asgiway.deferred import (
    RECORDED_ENDPOINT_KEY,
    deliver_after_handshake,
    delivery_in_flight,
    wait_for_delivery,
)
from asgiway.exceptions import BackendError, MalformedEventError
from asgiway.management_api import (
    ConnectionsApiError,
    ManagementApi,
    check_message_size,
    client_for,
    configured_endpoint_url,
)
from asgiway.origins import normalized_origin
from asgiway.protocols.bounded import SessionEnd, call_seconds
from asgiway.protocols.websocket import Deliver, WebSocketCycle, WebSocketCycleState
from asgiway.sources import EVENT_SCOPE_KEY
from asgiway.sources.websocket import EventType, WebSocketEvent
from asgiway.state import encoded, persistable, session_state
from asgiway.types import AdapterConfig, ASGIApp, Headers, LambdaContext, LambdaResponse, Message, Scope

logger = logging.getLogger("asgiway")

#: Channel messages are not replayed to recipients with less of the event's time left.
CHANNEL_REPLAY_MIN_SECONDS = 0.5


@dataclass(frozen=True)
class ChannelMessagesEvent(WebSocketEvent):
    """A replay that brings channel-layer messages to a connection's consumer: no API Gateway event,
    so replies go to the @connections endpoint its CONNECT recorded."""

    recorded_endpoint: str = ""

    @property
    def endpoint_url(self) -> str:
        return self.recorded_endpoint

    def scope(self, stored: dict[str, Any], context: LambdaContext | None, state: dict[str, Any]) -> Scope:
        scope = super().scope(stored, context, state)
        scope[EVENT_SCOPE_KEY] = "channel"
        return scope


def _text_headers(headers: Headers) -> dict[str, str]:
    """ASGI headers as a Lambda response's `headers` map."""
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in headers}


def _reply(status: int, body: str = "", headers: Mapping[str, str] | None = None) -> LambdaResponse:
    response: LambdaResponse = {"statusCode": status}
    if headers:
        response["headers"] = dict(headers)
    if body:
        response["body"] = body
    return response


class WebSocketLifecycle:
    """Serves one WebSocket event of an app, given the store and the options of its Adapter."""

    def __init__(
        self,
        app: ASGIApp,
        config: AdapterConfig,
        backend: Backend,
        lifespan_state: dict[str, Any],
    ) -> None:
        self.app = app
        self.config = config
        self.backend = backend
        self.lifespan_state = lifespan_state

    async def __call__(
        self, event: WebSocketEvent, context: LambdaContext | None, deadline: float
    ) -> LambdaResponse:
        """The Lambda response to `event`, given by `deadline` (a `time.monotonic()`); a failure of
        the event, the store or @connections is answered with its status (400, 503, 502) and
        logged, never raised.

        The deadline, not a duration, travels down: what runs before the app (the store's read,
        a slow first import) comes out of the app's time, never on top of the event's."""
        try:
            return await self._serve(event, context, deadline)
        except MalformedEventError as exc:
            logger.error("Malformed %s event for %s: %s", event.type, event.connection_id, exc)
            return _reply(400, "Bad Request")
        except ConnectionsApiError as exc:
            logger.error("@connections failed during %s of %s: %s", event.type, event.connection_id, exc)
            return _reply(502, "Bad Gateway")
        except BackendError as exc:
            logger.error("The store failed during %s of %s: %s", event.type, event.connection_id, exc)
            return _reply(503, "Service Unavailable")

    async def _serve(
        self, event: WebSocketEvent, context: LambdaContext | None, deadline: float
    ) -> LambdaResponse:
        if event.type is EventType.CONNECT:
            return await self._connect(event, context, deadline)
        record = self.backend.load(event.connection_id)
        if record is None:
            return await self._unknown(event)
        if event.type is EventType.MESSAGE and record.ended is not None:
            # The peer is gone, or the app closed it: API Gateway may still be delivering frames.
            logger.info(
                "MESSAGE for connection %s, which has ended (%s): 410", event.connection_id, record.ended
            )
            return _reply(410, "Gone")
        if event.type is EventType.MESSAGE:
            return await self._message(event, record, context, deadline)
        return await self._disconnect(event, record, context, deadline)

    def _endpoint(self, event: WebSocketEvent) -> str:
        return self.config.api_gateway_endpoint_url or configured_endpoint_url() or event.endpoint_url

    def _connections(self, event: WebSocketEvent) -> ManagementApi:
        return client_for(self._endpoint(event))

    def _scope(
        self,
        event: WebSocketEvent,
        stored: dict[str, Any],
        context: LambdaContext | None,
        state: dict[str, Any],
        timeout: float,
    ) -> Scope:
        """The session's scope, carrying the `Connections` bound to this caller and this event's time."""
        scope = event.scope(stored, context, state)
        connections = Connections(
            backend=self.backend, endpoint_url=self._endpoint(event), connection_id=event.connection_id
        )
        connections.deadline = time.monotonic() + _broadcast_seconds(timeout)
        scope[CONNECTIONS_SCOPE_KEY] = connections
        return scope

    async def _connect(
        self, event: WebSocketEvent, context: LambdaContext | None, deadline: float
    ) -> LambdaResponse:
        stored_scope = event.connect_scope(self.config)
        refused = self._refused_origin(event, stored_scope)
        if refused is not None:
            return refused
        # Recorded so that the asynchronous delivery of CONNECT frames can post where this event
        # came from, without its payload naming a URL (see asgiway.deferred).
        stored_scope[RECORDED_ENDPOINT_KEY] = self._endpoint(event)
        state = dict(self.lifespan_state)
        timeout = _seconds_left(deadline)
        scope = self._scope(event, stored_scope, context, state, timeout)
        # API Gateway refuses posts until $connect has returned: frames to the caller wait for it.
        pending: list[str | bytes] = []
        connections: Connections = scope[CONNECTIONS_SCOPE_KEY]
        connections.hold_own_frames(pending.append)

        async def hold(frame: str | bytes) -> None:
            check_message_size(frame)
            pending.append(frame)

        cycle = WebSocketCycle(scope, [], hold, replay=False)
        channel = SessionChannel(event.connection_id, connections, cycle.activity)
        try:
            with channel.serving():
                await cycle.run(self.app, timeout)
        finally:
            connections.hold_own_frames(None)  # a Connections kept past CONNECT posts like any other
        reply = self._connect_refusal(event, cycle) or await self._accepted(
            event, cycle, stored_scope, state=state, pending=pending, context=context
        )
        await self._send_channel_messages(channel, context, deadline)
        return reply

    def _connect_refusal(self, event: WebSocketEvent, cycle: WebSocketCycle) -> LambdaResponse | None:
        """The answer to a CONNECT the app did not accept (or failed at), or None when it accepted."""
        if cycle.end is SessionEnd.RAISED:
            logger.error("The app raised during CONNECT of %s", event.connection_id, exc_info=cycle.error)
            return _reply(500, "Internal Server Error")
        if cycle.end is SessionEnd.TIMED_OUT:
            logger.error(
                "The app did not answer CONNECT of %s within %.1fs%s",
                event.connection_id,
                cycle.timeout,
                _still_at_work(cycle),
            )
            return _reply(504, "Gateway Timeout")
        if cycle.denial is not None and cycle.denial.status < 400:
            logger.error(
                "A denial of CONNECT must have an error status, not %d: refusing with 403",
                cycle.denial.status,
            )
            return _reply(403, "Forbidden")
        if cycle.denial is not None:
            body = bytes(cycle.denial.body).decode("utf-8", "replace")
            return _reply(cycle.denial.status, body, _text_headers(cycle.denial.headers))
        if cycle.accepted:
            return None
        if cycle.state is WebSocketCycleState.CONNECTING:
            logger.warning("The app neither accepted nor closed CONNECT of %s", event.connection_id)
        elif not cycle.handshake_read:
            self._warn_if_no_route(event, cycle.scope)
        return _reply(403, "Forbidden")

    async def _accepted(
        self,
        event: WebSocketEvent,
        cycle: WebSocketCycle,
        stored_scope: dict[str, Any],
        *,
        state: dict[str, Any],
        pending: list[str | bytes],
        context: LambdaContext | None,
    ) -> LambdaResponse:
        """200 for a CONNECT the app accepted: the connection stored, its frames on their way."""
        closing = cycle.state is WebSocketCycleState.CLOSED
        # What the store keeps of the handshake: its credentials only where the app asks for them.
        kept = without_credentials(stored_scope, self.config.stored_credentials)
        if closing:
            # Accepted, then closed (an error frame, then 4401, say): the handshake succeeds, the
            # frames go out, then the connection is closed; it never becomes a live connection.
            logger.info(
                "The app accepted CONNECT of %s, then closed it with code %s: the frames it sent go out "
                "after the handshake, then @connections closes the connection (without that code: "
                "API Gateway's DELETE carries none)",
                event.connection_id,
                cycle.close_code,
            )
            # Rooms it may have joined on the way go; a record marked closed stays only so that
            # its DISCONNECT, which follows the close, is known as expected.
            self.backend.delete(event.connection_id)
            tombstone_expiry = time.time() + EXPIRY_MARGIN_SECONDS
            self.backend.save(ConnectionRecord(event.connection_id, kept, {}, tombstone_expiry, CLOSED))
        else:
            own_state = persistable(state, self.lifespan_state, event.connection_id) or {}
            self.backend.save(ConnectionRecord(event.connection_id, kept, own_state))
        if pending or closing:
            # In a thread: on Lambda this is an Invoke API call, which must not stall the loop.
            await asyncio.to_thread(
                functools.partial(
                    deliver_after_handshake,
                    self._endpoint(event),
                    event.connection_id,
                    pending,
                    context,
                    close=closing,
                )
            )
        headers = _text_headers(cycle.accept_headers)
        if cycle.accept_subprotocol:
            headers["Sec-WebSocket-Protocol"] = cycle.accept_subprotocol
        return _reply(200, headers=headers)

    def _refused_origin(self, event: WebSocketEvent, stored_scope: dict[str, Any]) -> LambdaResponse | None:
        """403, before the app runs, for a browser's CONNECT from an origin not in `allowed_origins`.

        Browsers send Origin with every WebSocket handshake and let any page open one to any host,
        so without this check a page on another site can act as the user with their cookies
        (cross-site WebSocket hijacking). A request without Origin is no browser's: other
        clients (servers, mobile apps, wscat) are let through, for the app's own checks.
        """
        allowed = self.config.allowed_origins
        if allowed is None:
            return None
        origin = next((value for name, value in stored_scope["headers"] if name == "origin"), None)
        if origin is None or normalized_origin(origin) in allowed:
            return None
        logger.warning(
            "Refused CONNECT of %s from origin %r, which allowed_origins does not list",
            event.connection_id,
            origin[:200],
        )
        return _reply(403, "Forbidden")

    def _warn_if_no_route(self, event: WebSocketEvent, scope: Scope) -> None:
        """A handshake closed unread is what a router does when no route matches; an app that
        refuses on purpose before reading (an auth check) has a route that matches."""
        from asgiway.app_routes import describe_routes, routes_match

        if routes_match(self.app, scope):
            return
        logger.warning(
            "The app closed the handshake of %s without reading it, as a router does when no route "
            "matches: every WebSocket event reaches websocket_path %r, and %s. Set websocket_path= "
            "(ASGIWAY_WEBSOCKET_PATH, asgiway dev --websocket-path) to the route's path",
            event.connection_id,
            self.config.websocket_path,
            describe_routes(self.app),
        )

    async def _message(
        self,
        event: WebSocketEvent,
        record: ConnectionRecord,
        context: LambdaContext | None,
        deadline: float,
    ) -> LambdaResponse:
        message = event.received()
        connections = self._connections(event)
        if delivery_in_flight(event.connection_id):  # rare: spare the hot path a thread hop
            await asyncio.to_thread(wait_for_delivery, event.connection_id)
        gone = False

        async def send_now(data: str | bytes) -> None:
            nonlocal gone
            # In a thread, so a slow @connections call cannot stall the event's deadline.
            if not gone and not await asyncio.to_thread(connections.post, event.connection_id, data):
                gone = True

        # On a route with a route response (two-way replies), the latest frame is held back: if it
        # is text and the last one, it goes back as the route response instead of a POST.
        held: list[str | bytes] = []
        two_way = event.route_key in self.config.two_way_routes

        async def post(data: str | bytes) -> None:
            check_message_size(data)  # refused in the app at once, even a frame held back as the reply
            if not two_way:
                await send_now(data)
                return
            if held:
                await send_now(held.pop())
            held.append(data)

        cycle, state, channel = await self._replay(
            event, record, context, deadline, messages=[message], deliver=post
        )
        closing = cycle.state is WebSocketCycleState.CLOSED
        reply_body = held.pop() if held and isinstance(held[0], str) and not closing else None
        for frame in held:  # binary (a route response carries text), or before the app's close
            await send_now(frame)
        await self._settle(event, record, cycle, state, gone=gone, connections=connections)
        reply = self._session_reply(event, cycle)
        if reply_body is not None and reply["statusCode"] == 200:
            reply["body"] = reply_body
        elif reply_body is not None:
            await send_now(reply_body)  # an error status carries no route response
        await self._send_channel_messages(channel, context, deadline)
        return reply

    async def _settle(
        self,
        event: WebSocketEvent,
        record: ConnectionRecord,
        cycle: WebSocketCycle,
        state: dict[str, Any] | None,
        *,
        gone: bool,
        connections: ManagementApi,
    ) -> None:
        """Keep what a replay changed: the connection's state, its end when it is gone or the app
        closed it."""
        closing = cycle.state is WebSocketCycleState.CLOSED
        if state is not None and encoded(state) != encoded(record.state) and not closing:
            kept = self.backend.update(
                ConnectionRecord(record.connection_id, record.scope, state, record.expires_at)
            )
            if not kept:
                logger.info(
                    "Connection %s was removed during this event; its state is dropped", event.connection_id
                )
        if gone:
            # Its DISCONNECT is still to come, and will replay the app once with this state.
            logger.info(
                "Connection %s is gone (410): out of its rooms until its DISCONNECT", event.connection_id
            )
            self.backend.end(event.connection_id, GONE)
        elif closing:
            self.backend.end(event.connection_id, CLOSED)  # its DISCONNECT, which follows, removes it
            await asyncio.to_thread(connections.delete, event.connection_id)

    async def _disconnect(
        self,
        event: WebSocketEvent,
        record: ConnectionRecord,
        context: LambdaContext | None,
        deadline: float,
    ) -> LambdaResponse:
        if record.ended == CLOSED:
            # The app closed it (at CONNECT or later): this DISCONNECT is the close's own echo.
            logger.debug("DISCONNECT of %s, which the app closed: record removed", event.connection_id)
            self.backend.delete(event.connection_id)
            return _reply(200)
        try:
            cycle, _, channel = await self._replay(
                event, record, context, deadline, messages=[event.disconnected()], deliver=None
            )
        finally:
            self.backend.delete(event.connection_id)
        await self._send_channel_messages(channel, context, deadline)
        return self._session_reply(event, cycle)

    async def _replay(
        self,
        event: WebSocketEvent,
        record: ConnectionRecord,
        context: LambdaContext | None,
        deadline: float,
        *,
        messages: list[Message],
        deliver: Deliver | None,
        channel_messages: Iterable[ChannelMessage] = (),
    ) -> tuple[WebSocketCycle, dict[str, Any] | None, SessionChannel]:
        state = session_state(record.state, self.lifespan_state)
        timeout = _seconds_left(deadline)
        scope = self._scope(event, record.scope, context, state, timeout)
        cycle = WebSocketCycle(scope, messages, deliver, replay=True)
        channel = SessionChannel(
            event.connection_id, scope[CONNECTIONS_SCOPE_KEY], cycle.activity, channel_messages
        )
        cycle.on_handshake_replayed = channel.release
        with channel.serving():
            await cycle.run(self.app, timeout)
        return cycle, persistable(state, self.lifespan_state, event.connection_id), channel

    async def deliver_channel_messages(
        self,
        deliveries: Iterable[Delivery],
        context: LambdaContext | None,
        deadline: float,
        source: dict[str, Any],
    ) -> int:
        """Replay each recipient's consumer with its channel-layer messages; how many were replayed.

        `source` is the event that carried them (the scope's `aws.event`). Failures are logged,
        never raised: on Lambda this is an asynchronous invocation, which a raise would retry.
        What the replayed consumers send on goes the same way, here or in new invocations.
        """
        queue = deque(deliveries)
        replayed = 0
        while queue:
            connection_id, messages = queue.popleft()
            if _seconds_left(deadline) < CHANNEL_REPLAY_MIN_SECONDS:
                logger.error(
                    "Out of time: channel-layer messages for %d connection(s) are not delivered",
                    len(queue) + 1,
                )
                break
            try:
                channel = await self._channel_replay(connection_id, messages, context, deadline, source)
            except (BackendError, ConnectionsApiError) as exc:
                logger.error("Delivering channel-layer messages to %s failed: %s", connection_id, exc)
                continue
            if channel is None:
                continue
            replayed += 1
            function = lambda_function(context)
            if function is not None and channel.outgoing:
                await asyncio.to_thread(hand_over, function, by_recipient(channel.outgoing))
            else:
                queue.extend(by_recipient(channel.outgoing))
        return replayed

    async def _channel_replay(
        self,
        connection_id: str,
        messages: list[ChannelMessage],
        context: LambdaContext | None,
        deadline: float,
        source: dict[str, Any],
    ) -> SessionChannel | None:
        """Replay one connection's consumer with `messages` on its channel; None when it has left."""
        record = self.backend.load(connection_id)
        if record is None or record.ended is not None:
            logger.info("Channel-layer messages for connection %s, which has left: dropped", connection_id)
            return None
        endpoint = self._endpoint_of(record)
        if endpoint is None:
            logger.error("No @connections endpoint for %s: its channel messages are dropped", connection_id)
            return None
        event = ChannelMessagesEvent(
            EventType.MESSAGE, connection_id, "", "", "", "", source, recorded_endpoint=endpoint
        )
        connections = client_for(endpoint)
        if delivery_in_flight(connection_id):  # its CONNECT frames come first
            await asyncio.to_thread(wait_for_delivery, connection_id)
        gone = False

        async def post(data: str | bytes) -> None:
            nonlocal gone
            check_message_size(data)
            if not gone and not await asyncio.to_thread(connections.post, connection_id, data):
                gone = True

        cycle, state, channel = await self._replay(
            event, record, context, deadline, messages=[], deliver=post, channel_messages=messages
        )
        await self._settle(event, record, cycle, state, gone=gone, connections=connections)
        self._session_reply(event, cycle)  # logs a failure; nobody waits for the status
        if channel.untaken:
            logger.warning(
                "The consumer of connection %s took %d of %d channel-layer message(s) for it: does "
                "it read the layer asgiway's ConnectionsChannelLayer is set as?",
                connection_id,
                len(messages) - channel.untaken,
                len(messages),
            )
        return channel

    def _endpoint_of(self, record: ConnectionRecord) -> str | None:
        """Where to post to a connection outside its own events: the configured @connections
        endpoint, else the one its CONNECT recorded."""
        configured = self.config.api_gateway_endpoint_url or configured_endpoint_url()
        recorded = record.scope.get(RECORDED_ENDPOINT_KEY)
        return configured or (recorded if isinstance(recorded, str) else None)

    async def _send_channel_messages(
        self, channel: SessionChannel, context: LambdaContext | None, deadline: float
    ) -> None:
        """Deliver what the session's consumer sent to other connections' channels (see
        asgiway.contrib.channels.deliveries): on Lambda through asynchronous invocations, else here."""
        report_foreign_layers()
        if not channel.outgoing:
            return
        deliveries = by_recipient(channel.outgoing)
        function = lambda_function(context)
        if function is not None:
            await asyncio.to_thread(hand_over, function, deliveries)
            return
        source = {"asgiway.channel": {"from": channel.connection_id}}
        await self.deliver_channel_messages(deliveries, context, deadline, source)

    def _session_reply(self, event: WebSocketEvent, cycle: WebSocketCycle) -> LambdaResponse:
        if cycle.end is SessionEnd.RAISED and _is_disconnect_signal(event, cycle.error):
            logger.debug("The app ended DISCONNECT of %s by raising its close code", event.connection_id)
            return _reply(200)
        if cycle.end is SessionEnd.RAISED:
            logger.error(
                "The app raised during %s of %s",
                _event_name(event),
                event.connection_id,
                exc_info=cycle.error,
            )
            return _reply(500, "Internal Server Error")
        if cycle.end is SessionEnd.TIMED_OUT:
            logger.error(
                "The app did not finish %s of %s within %.1fs%s",
                _event_name(event),
                event.connection_id,
                cycle.timeout,
                _still_at_work(cycle),
            )
            return _reply(504, "Gateway Timeout")
        return _reply(200)

    async def _unknown(self, event: WebSocketEvent) -> LambdaResponse:
        """A MESSAGE or DISCONNECT for a connection the store does not know (lost or expired)."""
        logger.warning("No record of connection %s for %s", event.connection_id, event.type)
        if event.type is EventType.MESSAGE:
            # The client could never be served again: closing it lets it reconnect and start anew.
            await asyncio.to_thread(self._connections(event).delete, event.connection_id)
            return _reply(410, "Gone")
        return _reply(200)


def _still_at_work(cycle: WebSocketCycle) -> str:
    """Why an app that waited for input never ended its session: the tasks it kept at work."""
    at_work = cycle.activity.at_work
    if not at_work:
        return ""
    return (
        ": it waited for input, but some of its tasks were still at work (a session ends only when "
        f"every task of the app waits for input or for another of its tasks): {', '.join(at_work[:5])}"
    )


def _event_name(event: WebSocketEvent) -> str:
    return "channel messages" if isinstance(event, ChannelMessagesEvent) else str(event.type)


def _is_disconnect_signal(event: WebSocketEvent, error: BaseException | None) -> bool:
    """True for an exception that only says "the client left" at DISCONNECT.

    FastAPI's documented echo lets Starlette's WebSocketDisconnect escape; it carries the close
    code the app was given, and is how such an app ends, not a failure.
    """
    if event.type is not EventType.DISCONNECT or error is None:
        return False
    code: object = getattr(error, "code", None)
    return bool(code == event.disconnected()["code"])


def _seconds_left(deadline: float) -> float:
    """The time the app gets from now until the event's `deadline` (never none at all)."""
    return max(0.1, deadline - time.monotonic())


def _broadcast_seconds(timeout: float) -> float:
    """How long a broadcast may run in an event of `timeout` seconds: it gives up before the app
    itself is cut off (a tenth of the app's time, at most a second), so the app gets its result."""
    app_seconds = call_seconds(timeout)
    return app_seconds - min(1.0, app_seconds / 10)
