"""`Adapter(app, dsn=...)`: the Lambda handler that serves an ASGI app's HTTP and WebSocket events."""

from __future__ import annotations

import asyncio
import atexit
import logging
from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from asgiway.exceptions import ConfigurationError, LifespanError, MalformedEventError
from asgiway.protocols.bounded import SessionEnd, run_bounded_on
from asgiway.protocols.http import HTTPCycle
from asgiway.protocols.lifespan import LifespanCycle, LifespanCycleState
from asgiway.sources import infer_http_source, is_websocket_event
from asgiway.sources.delivery import is_delivery
from asgiway.sources.response import ProxyResponse
from asgiway.types import (
    DEFAULT_TEXT_MIME_TYPES,
    AdapterConfig,
    ASGIApp,
    HTTPResponse,
    LambdaContext,
    LambdaEvent,
    LambdaResponse,
    LifespanMode,
)

if TYPE_CHECKING:
    from asgiway.backends import Backend

T = TypeVar("T")

logger = logging.getLogger("asgiway")

#: API Gateway's integration timeout: no answer after it reaches the client.
DEFAULT_EVENT_SECONDS = 29.0
#: Time kept back to answer in after cutting an app short.
REPLY_MARGIN_SECONDS = 0.5


_PLAIN_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
BAD_REQUEST = HTTPResponse(400, _PLAIN_TEXT, b"Bad Request")


class Adapter:
    """A Lambda handler for an ASGI app: `handler = Adapter(app, dsn="sqlite://chat.db")`.

    HTTP events (REST payload 1.0, HTTP API payload 2.0, Function URL, ALB) run one HTTP cycle.
    API Gateway WebSocket events run one WebSocket session each, with the connection kept in the
    store that `dsn` names; the app's WebSocket route must be mounted at `websocket_path`, since
    WebSocket events carry no path. The lifespan starts once per container, at the first event.
    """

    def __init__(
        self,
        app: ASGIApp,
        dsn: str | None = None,
        *,
        websocket_path: str = "/",
        lifespan: LifespanMode = "auto",
        api_gateway_base_path: str = "/",
        api_gateway_endpoint_url: str | None = None,
        text_mime_types: Iterable[str] | None = None,
        exclude_headers: Iterable[str] = (),
        two_way_replies: bool = False,
    ) -> None:
        if lifespan not in ("auto", "on", "off"):
            raise ConfigurationError(f"lifespan must be 'auto', 'on' or 'off', not {lifespan!r}")
        if not websocket_path.startswith("/"):
            raise ConfigurationError(f"websocket_path must start with '/', not {websocket_path!r}")
        self.app = app
        self.config = AdapterConfig(
            api_gateway_base_path=api_gateway_base_path or "/",
            text_mime_types=(*DEFAULT_TEXT_MIME_TYPES, *(text_mime_types or ())),
            exclude_headers=frozenset(name.lower() for name in exclude_headers),
            websocket_path=websocket_path,
            api_gateway_endpoint_url=api_gateway_endpoint_url,
            two_way_replies=two_way_replies,
        )
        self.backend: Backend | None = None
        if dsn:
            from asgiway.backends import from_dsn

            self.backend = from_dsn(dsn)
        # A plain loop, not asyncio.Runner: Runner.run installs and restores a SIGINT handler on
        # every call, a third of the adapter's own time per event, for a signal Lambda never sends.
        self._loop = asyncio.new_event_loop()
        self._lifespan = LifespanCycle(app, lifespan)

    def __call__(self, event: LambdaEvent, context: LambdaContext | None = None) -> LambdaResponse:
        if is_delivery(event):
            from asgiway import deferred

            return deferred.handle(event)
        self._start_lifespan(context)
        timeout = _event_seconds(context)
        if isinstance(event, dict) and is_websocket_event(event):
            return self._run(self._websocket(event, context, timeout))
        source = infer_http_source(event, context, self.config) if isinstance(event, dict) else None
        if source is None:
            logger.error(
                "Answered 400 to an event from no supported source (a %s with keys %s): asgiway serves "
                "API Gateway REST (payload 1.0), HTTP API (payload 2.0), Lambda Function URL, ALB and "
                "API Gateway WebSocket APIs",
                type(event).__name__,
                sorted(map(str, event))[:10] if isinstance(event, dict) else "none",
            )
            # No source to shape it: the fields and single-value headers every proxy source accepts.
            proxy = ProxyResponse.from_response(BAD_REQUEST, self.config)
            return {**proxy.fields(), "headers": proxy.joined_headers()}
        try:
            scope, body = source.scope, source.body
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # The event is untrusted input: a field its source always sends is missing or mistyped.
            logger.error(
                "Answered 400 to a malformed %s event: %s: %s", type(source).__name__, type(exc).__name__, exc
            )
            return source(BAD_REQUEST)
        scope["state"] = dict(self._lifespan.app_state)
        return source(self._http(HTTPCycle(scope, body), timeout))

    def _http(self, cycle: HTTPCycle, timeout: float) -> HTTPResponse:
        response: list[HTTPResponse] = []

        async def answer() -> None:
            response.append(await cycle.run(self.app))

        end, error = run_bounded_on(self._loop, answer(), timeout)
        if end is SessionEnd.TIMED_OUT:  # even if it answered while being cut off: too late
            logger.error("The app did not answer within %.1fs", timeout)
            return HTTPResponse(504, _PLAIN_TEXT, b"Gateway Timeout")
        if response:
            return response[0]
        logger.error("The app failed before answering", exc_info=error)
        return HTTPResponse(500, _PLAIN_TEXT, b"Internal Server Error")

    async def _websocket(
        self, event: LambdaEvent, context: LambdaContext | None, timeout: float
    ) -> LambdaResponse:
        # The WebSocket machinery loads with the first WebSocket event: an HTTP-only cold start skips it.
        from asgiway.sources.websocket import WebSocketEvent

        try:
            parsed = WebSocketEvent.parse(event)
        except MalformedEventError as exc:
            logger.error("Malformed WebSocket event: %s", exc)
            return {"statusCode": 400, "body": "Bad Request"}
        if self.backend is None:
            raise ConfigurationError(
                "WebSocket events need a connection store: pass dsn= to the Adapter, "
                "e.g. Adapter(app, dsn='sqlite:///tmp/connections.db')"
            )
        from asgiway.lifecycle import WebSocketLifecycle

        lifecycle = WebSocketLifecycle(self.app, self.config, self.backend, self._lifespan.app_state)
        return await lifecycle(parsed, context, timeout)

    def _start_lifespan(self, context: LambdaContext | None) -> None:
        if self._lifespan.state is LifespanCycleState.FAILED:
            raise LifespanError("The app's lifespan startup failed earlier in this container")
        if self._lifespan.state is not LifespanCycleState.CONNECTING:
            return
        self._run(self._lifespan.startup(_event_seconds(context)))
        if self._lifespan.started:
            atexit.register(self.close)

    def close(self) -> None:
        """Run the app's lifespan shutdown and release the store; safe to call more than once."""
        if self._lifespan.started:
            self._run(self._lifespan.shutdown())
        if self.backend is not None:
            self.backend.close()
        if not self._loop.is_closed():
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(work)


def _event_seconds(context: Any) -> float:
    """How long one event may run, answer included.

    API Gateway gives up on an integration after 29 s; Lambda stops at the function's timeout.
    The adapter keeps a margin of both to answer in after cutting an app short.
    """
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    seconds = (
        DEFAULT_EVENT_SECONDS if remaining is None else min(float(remaining()) / 1000, DEFAULT_EVENT_SECONDS)
    )
    return max(0.1, seconds - REPLY_MARGIN_SECONDS)
