"""`Adapter(app, dsn=...)`: the Lambda handler that serves an ASGI app's HTTP and WebSocket events."""

from __future__ import annotations

import asyncio
import atexit
import logging
import math
import time
from collections.abc import Coroutine, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from asgiway.exceptions import ConfigurationError, LifespanError, MalformedEventError
from asgiway.protocols.bounded import SessionEnd, run_bounded_on
from asgiway.protocols.http import HTTPCycle
from asgiway.protocols.lifespan import LifespanCycle, LifespanCycleState
from asgiway.sources import infer_http_source, is_websocket_event
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

#: API Gateway's default integration timeout: no answer after it reaches the client. WebSocket and
#: HTTP APIs keep it; REST APIs may raise theirs (the `api_gateway_timeout` option).
DEFAULT_API_GATEWAY_TIMEOUT = 29.0
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
        two_way_replies: bool | Iterable[str] = False,
        api_gateway_timeout: float = DEFAULT_API_GATEWAY_TIMEOUT,
        allowed_origins: Iterable[str] | None = None,
        stored_credentials: Iterable[str] = (),
    ) -> None:
        if lifespan not in ("auto", "on", "off"):
            raise ConfigurationError(f"lifespan must be 'auto', 'on' or 'off', not {lifespan!r}")
        if not websocket_path.startswith("/"):
            raise ConfigurationError(f"websocket_path must start with '/', not {websocket_path!r}")
        if not api_gateway_timeout > REPLY_MARGIN_SECONDS:
            raise ConfigurationError(
                f"api_gateway_timeout must be more than {REPLY_MARGIN_SECONDS} s, not {api_gateway_timeout!r}"
            )
        self.api_gateway_timeout = float(api_gateway_timeout)
        self.app = app
        self.config = AdapterConfig(
            api_gateway_base_path=api_gateway_base_path or "/",
            text_mime_types=(*DEFAULT_TEXT_MIME_TYPES, *(kind.lower() for kind in text_mime_types or ())),
            exclude_headers=frozenset(name.lower() for name in exclude_headers),
            websocket_path=websocket_path,
            api_gateway_endpoint_url=api_gateway_endpoint_url,
            two_way_routes=two_way_routes(two_way_replies),
            stored_credentials=_kept_credentials(stored_credentials),
            allowed_origins=_allowed_origins(allowed_origins),
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
        # API Gateway's events are told apart first, with a few lookups: the invocations asgiway
        # makes itself (deliveries, channel messages) are rarer, and their modules load only then.
        source = None
        if isinstance(event, dict):
            if is_websocket_event(event):
                self._start_lifespan(context)
                deadline = time.monotonic() + self._event_seconds(context, bounded_by_api_gateway=True)
                return self._run(self._websocket(event, context, deadline))
            source = infer_http_source(event, context, self.config)
        if source is None:
            return self._other_invocation(event, context)
        self._start_lifespan(context)
        try:
            refusal = source.refusal()
            if refusal is not None:
                return source(refusal)
            scope, body = source.scope, source.body
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            # The event is untrusted input: a field its source always sends is missing or mistyped.
            logger.error(
                "Answered 400 to a malformed %s event: %s: %s", type(source).__name__, type(exc).__name__, exc
            )
            return source(BAD_REQUEST)
        scope["state"] = dict(self._lifespan.app_state)
        timeout = self._event_seconds(context, bounded_by_api_gateway=source.bounded_by_api_gateway)
        return source(self._http(HTTPCycle(scope, body), timeout))

    def _other_invocation(self, event: Any, context: LambdaContext | None) -> LambdaResponse:
        """An event no API Gateway source claims: a delivery of CONNECT-time frames, a channel
        layer's messages (both asynchronous invocations asgiway makes), or 400."""
        from asgiway.contrib.channel_delivery import is_channel_delivery
        from asgiway.sources.delivery import is_delivery

        if is_delivery(event):
            from asgiway import deferred

            return deferred.handle(event, self._delivery_endpoint, self.backend)
        self._start_lifespan(context)
        if is_channel_delivery(event):
            # No API Gateway awaits an asynchronous invocation: only the function's timeout bounds it.
            deadline = time.monotonic() + self._event_seconds(context, bounded_by_api_gateway=False)
            return self._run(self._channel_delivery(event, context, deadline))
        logger.error(
            "Answered 400 to an event from no supported source (a %s with keys %s): asgiway serves "
            "API Gateway REST (payload 1.0), HTTP API (payload 2.0), Lambda Function URL, ALB, "
            "Lambda@Edge viewer and origin requests, and API Gateway WebSocket APIs",
            type(event).__name__,
            sorted(map(str, event))[:10] if isinstance(event, dict) else "none",
        )
        # No source to shape it: the fields and single-value headers every proxy source accepts.
        from asgiway.sources.response import ProxyResponse

        proxy = ProxyResponse.from_response(BAD_REQUEST, self.config)
        return {**proxy.fields(), "headers": proxy.joined_headers()}

    def _http(self, cycle: HTTPCycle, timeout: float) -> HTTPResponse:
        end, error, response = run_bounded_on(self._loop, cycle.run(self.app), timeout)
        if end is SessionEnd.TIMED_OUT:  # even if it answered while being cut off: too late
            logger.error("The app did not answer within %.1fs", timeout)
            return HTTPResponse(504, _PLAIN_TEXT, b"Gateway Timeout")
        if response is not None:
            return response
        logger.error("The app failed before answering", exc_info=error)
        return HTTPResponse(500, _PLAIN_TEXT, b"Internal Server Error")

    async def _websocket(
        self, event: LambdaEvent, context: LambdaContext | None, deadline: float
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
        return await lifecycle(parsed, context, deadline)

    async def _channel_delivery(
        self, event: LambdaEvent, context: LambdaContext | None, deadline: float
    ) -> LambdaResponse:
        """Replay the consumers a channel layer's messages are for (see
        asgiway.contrib.channels.deliveries): 400, logged, for a malformed payload; never a raise,
        which Lambda would answer by invoking again."""
        import json

        from asgiway.contrib.channel_delivery import CHANNEL_DELIVERY_KEY
        from asgiway.contrib.channels.deliveries import MalformedChannelDeliveryError, parse_deliveries
        from asgiway.lifecycle import WebSocketLifecycle

        try:
            deliveries = parse_deliveries(event[CHANNEL_DELIVERY_KEY])
        except MalformedChannelDeliveryError as exc:
            logger.error("Refused a malformed channel delivery event: %s", exc)
            return {"statusCode": 400, "body": "Bad Request"}
        if self.backend is None:
            logger.error("A channel delivery event needs a connection store: pass dsn= to the Adapter")
            return {"statusCode": 500, "body": "Internal Server Error"}
        lifecycle = WebSocketLifecycle(self.app, self.config, self.backend, self._lifespan.app_state)
        replayed = await lifecycle.deliver_channel_messages(deliveries, context, deadline, event)
        return {"statusCode": 200, "body": json.dumps({"replayed": replayed})}

    def _delivery_endpoint(self, connection_id: str) -> str | None:
        """Where a delivery to `connection_id` may post: the configured @connections endpoint, else
        the one its CONNECT recorded; never one the delivery's payload names."""
        from asgiway.deferred import RECORDED_ENDPOINT_KEY
        from asgiway.management_api import configured_endpoint_url

        configured = self.config.api_gateway_endpoint_url or configured_endpoint_url()
        if configured or self.backend is None:
            return configured
        record = self.backend.load(connection_id)
        recorded = record.scope.get(RECORDED_ENDPOINT_KEY) if record is not None else None
        return recorded if isinstance(recorded, str) else None

    def _start_lifespan(self, context: LambdaContext | None) -> None:
        if self._lifespan.state is LifespanCycleState.FAILED:
            raise LifespanError("The app's lifespan startup failed earlier in this container")
        if self._lifespan.state is not LifespanCycleState.CONNECTING:
            return
        self._run(self._lifespan.startup(self._event_seconds(context, bounded_by_api_gateway=True)))
        if self._lifespan.started:
            atexit.register(self.close)

    def close(self) -> None:
        """Run the app's lifespan shutdown and release the store; safe to call more than once."""
        if self._loop.is_closed():
            return
        if self._lifespan.started:
            self._run(self._lifespan.shutdown())
        self._run(self._lifespan.abandon())
        if self.backend is not None:
            self.backend.close()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(work)

    def _event_seconds(self, context: LambdaContext | None, *, bounded_by_api_gateway: bool) -> float:
        """How long one event may run, answer included.

        Lambda stops at the function's timeout; API Gateway gives up on an integration after its
        own timeout, so its events get the smaller of the two. Function URL and ALB requests wait
        for the function. A margin is kept to answer in after cutting an app short. Without
        a usable context (tests, scripts), API Gateway's timeout stands in.
        """
        remaining = _remaining_seconds(context)
        if remaining is None:
            seconds = self.api_gateway_timeout
        elif bounded_by_api_gateway:
            seconds = min(remaining, self.api_gateway_timeout)
        else:
            seconds = remaining
        return max(0.1, seconds - REPLY_MARGIN_SECONDS)


def two_way_routes(two_way_replies: bool | Iterable[str]) -> frozenset[str]:
    """The route keys whose replies go back in the Lambda response, from the `two_way_replies` option.

    Only a route with a route response passes a Lambda response's body to the client; API
    Gateway drops it on any other route, so `True` means `$default`, the route that usually has
    one, and other routes are named.
    https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-route-response.html
    """
    if isinstance(two_way_replies, bool):
        return frozenset({"$default"}) if two_way_replies else frozenset()
    if isinstance(two_way_replies, str):
        raise ConfigurationError(
            f"two_way_replies takes True or a collection of route keys, e.g. [{two_way_replies!r}], "
            f"not the string {two_way_replies!r}"
        )
    routes = frozenset(two_way_replies)
    malformed = sorted(
        repr(key) for key in routes if not isinstance(key, str) or not key or key != key.strip()
    )
    if malformed:
        raise ConfigurationError(
            f"two_way_replies route keys must be non-empty strings, not {', '.join(malformed)}"
        )
    return routes


def _kept_credentials(stored_credentials: Iterable[str]) -> frozenset[str]:
    """The `stored_credentials` option; its module loads with the first app that keeps any (a cold
    start of any other pays nothing for it)."""
    if not stored_credentials:
        return frozenset()
    from asgiway.credentials import kept_names

    return kept_names(stored_credentials)


def _allowed_origins(allowed_origins: Iterable[str] | None) -> frozenset[str] | None:
    """The `allowed_origins` option, checked and normalized; None (any origin) when not given."""
    if allowed_origins is None:
        return None
    from asgiway.origins import origins

    return origins(allowed_origins)


def _remaining_seconds(context: LambdaContext | None) -> float | None:
    """The invocation's remaining time, or None when the context cannot say (a stand-in whose
    `get_remaining_time_in_millis` is missing, raises, or answers no number)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    try:
        milliseconds = float(remaining())
    except Exception:
        return None
    return milliseconds / 1000 if math.isfinite(milliseconds) else None
