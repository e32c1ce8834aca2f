"""The ASGI `websocket` state machine for one API Gateway WebSocket event.

Every event runs one ASGI session, from `websocket.connect` to the point where the app waits for
input that this event cannot give, or returns:

| event      | the app receives                                  | sends delivered          |
|------------|---------------------------------------------------|--------------------------|
| CONNECT    | `websocket.connect`                               | after the handshake      |
| MESSAGE    | `websocket.connect` (a replay), `websocket.receive` | after the replay         |
| DISCONNECT | `websocket.connect` (a replay), `websocket.disconnect` | never: the peer has left |

The session ends once the app is idle (see `asgiway.protocols.idle`: it waits for input, no
send is in flight, and none of its tasks is at work), by cancelling it at its pending `receive()`,
never by a made-up `websocket.disconnect`, so disconnect handlers run only when the client really
left. The replayed handshake is absorbed: its `websocket.accept` is not sent again and whatever
the app sends before it receives the event's own message is not delivered a second time.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from asgiway.exceptions import SessionEndedError
from asgiway.protocols.bounded import SessionEnd, run_bounded
from asgiway.protocols.idle import SessionActivity
from asgiway.protocols.sync_threads import own_sync_thread
from asgiway.types import ASGIApp, Headers, Message, Scope

logger = logging.getLogger("asgiway")

Deliver = Callable[[str | bytes], Awaitable[None]]


class WebSocketCycleState(enum.Enum):
    """Where the app stands with the handshake and the connection, within one event.

    CONNECTING: `websocket.connect` is on offer; the app has not answered the handshake yet.
    RESPONDING: the app denies the handshake with an HTTP response whose body is still coming.
    CONNECTED: the app accepted (at CONNECT) or re-accepted (in a replay) the connection.
    CLOSED: the app closed the connection, or denied the handshake.
    """

    CONNECTING = "connecting"
    RESPONDING = "responding"
    CONNECTED = "connected"
    CLOSED = "closed"


@dataclass
class Denial:
    """The HTTP response an app sent through the `websocket.http.response` extension."""

    status: int
    headers: Headers
    body: bytearray = field(default_factory=bytearray)


class WebSocketCycle:
    """Runs an ASGI app for one WebSocket event and records what it decided.

    `messages` are what the app receives after `websocket.connect`: nothing at CONNECT, the
    frame at MESSAGE, the disconnect at DISCONNECT. `deliver` posts one frame to the client;
    `None` means frames cannot reach the client during this event and are dropped.
    """

    def __init__(
        self,
        scope: Scope,
        messages: list[Message],
        deliver: Deliver | None,
        replay: bool,
    ) -> None:
        self.scope = scope
        self.state = WebSocketCycleState.CONNECTING
        self.replay = replay
        #: Whether the app accepted the handshake in this session (it may have closed since).
        self.accepted = False
        #: The code of the app's `websocket.close`, when it sent one (1000 when it gave none).
        self.close_code: int | None = None
        self.accept_subprotocol: str | None = None
        self.accept_headers: Headers = []
        self.denial: Denial | None = None
        self.end: SessionEnd | None = None
        #: The seconds the app was given (set by `run`).
        self.timeout = 0.0
        self.error: BaseException | None = None
        #: Whether the app has taken `websocket.connect`: a router that matches no route closes
        #: the handshake without reading it.
        self.handshake_read = False
        self._inbox: deque[Message] = deque([{"type": "websocket.connect"}, *messages])
        self._deliver = deliver
        self._handshake_done = False
        #: Called once the replayed handshake is over (the app took the event's own message, or,
        #: in a replay that brings none, asked for more after the handshake).
        self.on_handshake_replayed: Callable[[], None] | None = None
        #: What the app is doing with the session: how its end is told (see asgiway.protocols.idle).
        self.activity = SessionActivity()
        self._over = False

    async def run(self, app: ASGIApp, timeout: float) -> SessionEnd:
        """Run the app until its session ends, all within `timeout` seconds; say why it ended."""
        self.timeout = timeout
        try:
            async with own_sync_thread():
                self.end, self.error = await run_bounded(
                    app(self.scope, self.receive, self.send), timeout, self.activity
                )
        finally:
            self._over = True
        return self.end

    async def receive(self) -> Message:
        """The next message of this event; when none is left, wait until the session is ended."""
        self._check_not_over()
        if self._inbox:
            message = self._inbox.popleft()
            if message["type"] == "websocket.connect":
                self.handshake_read = True
            else:
                self._handshake_over()
            return message
        if self.handshake_read:
            self._handshake_over()
        await self.activity.wait_for_input()
        raise AssertionError("unreachable: a wait for input the event cannot give is only cancelled")

    async def send(self, message: Message) -> None:
        """Take one ASGI message from the app, following the state machine of the spec."""
        self._check_not_over()
        kind = message.get("type")
        self.activity.noticed()
        if self.state is WebSocketCycleState.CONNECTING:
            self._answer_handshake(message)
        elif self.state is WebSocketCycleState.RESPONDING:
            self._respond(message)
        elif self.state is WebSocketCycleState.CONNECTED and kind == "websocket.send":
            await self._send_frame(message)
        elif self.state is WebSocketCycleState.CONNECTED and kind == "websocket.close":
            self._close(message)
        else:
            raise RuntimeError(f"Unexpected ASGI message {kind!r} while the WebSocket is {self.state.value}")

    def _handshake_over(self) -> None:
        if not self._handshake_done:
            self._handshake_done = True
            if self.on_handshake_replayed is not None:
                self.on_handshake_replayed()

    def _check_not_over(self) -> None:
        """Nothing is posted, queued or received for an event that is over: say so, loudly."""
        if self._over:
            connection_id = self.scope.get("aws.event", {}).get("requestContext", {}).get("connectionId")
            raise SessionEndedError(
                f"This WebSocket belongs to an API Gateway event of connection {connection_id} that is "
                "over: on Lambda each event runs its own session, so a WebSocket kept from an earlier "
                "event (an in-memory list of connections) cannot send or receive any more. Reach other "
                "clients with asgiway's Connections: Connections.of(websocket).send(connection_id, "
                "data), or .join(room) and .broadcast(data, room=room)"
            )

    def _answer_handshake(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "websocket.accept":
            self.state = WebSocketCycleState.CONNECTED
            self.accepted = True
            self.accept_subprotocol = message.get("subprotocol")
            self.accept_headers = list(message.get("headers") or [])
        elif kind == "websocket.close":
            self._close(message)
        elif kind == "websocket.http.response.start":
            self.state = WebSocketCycleState.RESPONDING
            self.denial = Denial(int(message["status"]), list(message.get("headers") or []))
        else:
            raise RuntimeError(
                "Expected ASGI message 'websocket.accept', 'websocket.close' or "
                f"'websocket.http.response.start' to answer the handshake, got {kind!r}"
            )

    def _respond(self, message: Message) -> None:
        if message.get("type") != "websocket.http.response.body":
            raise RuntimeError(
                f"Expected ASGI message 'websocket.http.response.body', got {message.get('type')!r}"
            )
        assert self.denial is not None
        self.denial.body.extend(message.get("body", b""))
        if not message.get("more_body", False):
            self.state = WebSocketCycleState.CLOSED

    def _close(self, message: Message) -> None:
        # The code is only logged: @connections' DELETE closes a connection without code or reason.
        self.close_code = int(message.get("code") or 1000)
        self.state = WebSocketCycleState.CLOSED

    async def _send_frame(self, message: Message) -> None:
        text, data = message.get("text"), message.get("bytes")
        if (text is None) == (data is None):
            raise RuntimeError("A 'websocket.send' message needs exactly one of 'text' or 'bytes'")
        if self.replay and not self._handshake_done:
            logger.debug("Not delivering again a frame sent during a replayed handshake")
            return
        if self._deliver is None:
            logger.debug("Dropping a frame: the client cannot receive it during this event")
            return
        with self.activity.sending():
            await self._deliver(message["text"] if text is not None else bytes(message["bytes"]))
