"""The emulator as one ASGI app: API Gateway's WebSocket and HTTP APIs, @connections and Lambda's Invoke.

WebSocket upgrades (at `/{stage}` or any other path) become WebSocket sessions; `/@connections/{id}`,
with or without the stage prefix, reaches the live clients; `/2015-03-31/functions/.../invocations`
is Lambda's Invoke API for the function; every other HTTP request becomes an HTTP API event.
Every request must name a host served here, and @connections and Invoke only answer the function
(see `asgiway.local.access`).
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from asgiway.local.access import CONNECTIONS_SERVICE, INVOKE_SERVICE, EndpointGuard
from asgiway.local.clients import LiveClients
from asgiway.local.connections_api import connection_path, error
from asgiway.local.events import Stage, http_api_event
from asgiway.local.http_api import response_from
from asgiway.local.instances import SHUTDOWN_SECONDS, InstancePool, Invocation
from asgiway.local.lambda_api import INVOKE_PATH, answer_invoke, names_function, not_found
from asgiway.local.log import EventLog
from asgiway.local.response import GatewayResponse, MalformedResultError, status_of
from asgiway.local.websocket_session import WebSocketSession, WebSocketSettings
from asgiway.sources.common import header_value
from asgiway.sources.delivery import DELIVERY_EVENT_KEY
from asgiway.sources.response import is_text
from asgiway.types import DEFAULT_TEXT_MIME_TYPES, Receive, Scope, Send

#: Lambda refuses a synchronous invocation whose payload is larger than 6 MB.
MAX_REQUEST_BYTES = 6 * 1024 * 1024
TOO_LARGE = GatewayResponse.message(413, "Request Entity Too Large")


@dataclass
class Gateway:
    stage: Stage
    pool: InstancePool
    log: EventLog
    guard: EndpointGuard
    websocket: WebSocketSettings = field(default_factory=WebSocketSettings)
    clients: LiveClients = field(default_factory=LiveClients)

    def __post_init__(self) -> None:
        self._background: set[asyncio.Task[Invocation]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("websocket", "http"):
            return
        misdirected = self.guard.misdirected(scope)
        if misdirected is not None:
            await _refuse(scope, receive, send, misdirected)
        elif scope["type"] == "websocket":
            await WebSocketSession(self, scope, receive, send).run()
        else:
            await self._http(scope, receive, send)

    def log_invocation(
        self,
        kind: str,
        subject: str,
        route: str,
        invocation: Invocation,
        *,
        status: int | None = None,
        note: str = "",
    ) -> None:
        if status is None:
            status = _status_of(invocation)
        notes = [note] if note else []
        if invocation.timed_out:
            notes.append(f"timed out after {self.pool.spec.timeout_seconds:g} s")
        elif invocation.error is not None:
            notes.append(f"{invocation.error.get('errorType')}: {invocation.error.get('errorMessage')}")
        if invocation.cold:
            notes.append("cold start")
        self.log.event(kind, subject, route, status, invocation.duration_ms, note=", ".join(notes))

    async def close(self) -> None:
        """Stop starting invocations, let the asynchronous ones already running end (as Lambda lets
        a running invocation finish, here within SHUTDOWN_SECONDS), then cancel what is left.

        Cancelling one mid-way would leave its instance without its lifespan shutdown.
        """
        self.pool.stop_starting()
        if not self._background:
            return
        _, unfinished = await asyncio.wait(self._background, timeout=SHUTDOWN_SECONDS)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await _read_body(receive)
        if body is None:
            await _write(send, TOO_LARGE)
            return
        method: str = scope["method"]
        raw_path = scope.get("raw_path") or scope["path"].encode()
        found = connection_path(raw_path.decode("latin-1"))
        invoke = INVOKE_PATH.match(scope["path"]) if method == "POST" else None
        if found is not None or invoke is not None:
            service = CONNECTIONS_SERVICE if found is not None else INVOKE_SERVICE
            refusal = self.guard.refusal(scope, service, body)
            if refusal is not None:
                await _write(send, refusal)
                return
        if found is not None:
            await self._connections_call(send, method, found, body)
        elif invoke is not None:
            await self._lambda_invoke(scope, send, invoke["function"], body)
        else:
            await self._http_api(scope, send, body)

    async def _connections_call(
        self, send: Send, method: str, found: tuple[str | None, str], data: bytes
    ) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        stage, connection_id = found
        if stage not in (None, self.stage.name):
            answer = error(403, "Forbidden")
        else:
            answer = self.clients.answer(method, connection_id, data)
        self.log.event(method, connection_id, "@connections", answer.status, (loop.time() - started) * 1000)
        await _write(send, answer)

    async def _lambda_invoke(self, scope: Scope, send: Send, function: str, payload: bytes) -> None:
        if not names_function(function, self.pool.spec.name):
            await _write(send, not_found(function))
            return
        invocation_type = header_value(scope["headers"], b"x-amz-invocation-type") or "RequestResponse"
        answer = await answer_invoke(
            invocation_type,
            payload,
            functools.partial(self._invoke_logged, invocation_type),
            self._in_background,
            self.pool.spec.timeout_seconds,
        )
        await _write(send, answer)

    async def _invoke_logged(self, invocation_type: str, event: Any) -> Invocation:
        invocation = await self.pool.invoke(event)
        delivery = event.get(DELIVERY_EVENT_KEY) if isinstance(event, dict) else None
        subject = delivery.get("connection_id", "") if isinstance(delivery, dict) else ""
        self.log_invocation("INVOKE", subject, invocation_type, invocation)
        return invocation

    def _in_background(self, work: Awaitable[Invocation]) -> None:
        task: asyncio.Task[Invocation] = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _http_api(self, scope: Scope, send: Send, body: bytes) -> None:
        headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
        content_type = header_value(scope["headers"], b"content-type") or ""
        event = http_api_event(
            method=scope["method"],
            path=scope["path"],
            query_string=scope["query_string"].decode("latin-1"),
            headers=headers,
            body=body,
            source_ip=(scope.get("client") or ("127.0.0.1", 0))[0],
            domain_name=self.stage.domain_name,
            api_id=self.stage.api_id,
            text_body=_is_utf8(body)
            and (not body or is_text({"content-type": [content_type]}, DEFAULT_TEXT_MIME_TYPES)),
            port=(scope.get("server") or ("", 80))[1],
            proto="http",
        )
        if len(json.dumps(event)) > MAX_REQUEST_BYTES:
            # The limit is on the event, so a binary body counts as its base64 text.
            await _write(send, TOO_LARGE)
            return
        invocation = await self.pool.invoke(event)
        response = response_from(invocation)
        self.log_invocation(
            "HTTP", f"{scope['method']} {scope['path']}", "$default", invocation, status=response.status
        )
        await _write(send, response)


def _status_of(invocation: Invocation) -> int:
    """The status a WebSocket event's log line shows: the result's, or what its failure means."""
    if invocation.timed_out:
        return 504
    if invocation.error is not None:
        return 500
    try:
        return status_of(invocation.result)
    except MalformedResultError:
        return 200  # API Gateway ignores a MESSAGE or DISCONNECT result it cannot read


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when it exceeds what Lambda accepts."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _refuse(scope: Scope, receive: Receive, send: Send, response: GatewayResponse) -> None:
    """Answer with `response` before anything else happens: a WebSocket upgrade as a plain HTTP answer."""
    if scope["type"] == "http":
        await _write(send, response)
        return
    if (await receive())["type"] != "websocket.connect":
        return
    await send(
        {"type": "websocket.http.response.start", "status": response.status, "headers": response.headers}
    )
    await send({"type": "websocket.http.response.body", "body": response.body})


async def _write(send: Send, response: GatewayResponse) -> None:
    await send({"type": "http.response.start", "status": response.status, "headers": response.headers})
    await send({"type": "http.response.body", "body": response.body})
