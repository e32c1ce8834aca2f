"""Named shapes shared across the runtime: ASGI callables, Lambda events and context, options."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Literal, NamedTuple, Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LambdaEvent = dict[str, Any]
LambdaResponse = dict[str, Any]
Headers = list[tuple[bytes, bytes]]
LifespanMode = Literal["auto", "on", "off"]

#: Content types whose bodies go back as text; any other body is returned base64-encoded.
DEFAULT_TEXT_MIME_TYPES: tuple[str, ...] = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/vnd.api+json",
    "application/vnd.oai.openapi",
    "image/svg+xml",
)


class LambdaContext(Protocol):
    """The part of Lambda's context object the adapter reads."""

    aws_request_id: str

    def get_remaining_time_in_millis(self) -> int: ...


# NamedTuples rather than dataclasses: as immutable, and built at import in a tenth of the time,
# which every cold start pays.


class AdapterConfig(NamedTuple):
    """Options of an Adapter, validated once at construction and shared by every event source."""

    api_gateway_base_path: str = "/"
    text_mime_types: tuple[str, ...] = DEFAULT_TEXT_MIME_TYPES
    exclude_headers: frozenset[str] = frozenset()
    websocket_path: str = "/"
    api_gateway_endpoint_url: str | None = None
    #: The WebSocket route keys that have a route response: a reply can go back in the Lambda response.
    two_way_routes: frozenset[str] = frozenset()
    #: Credential headers and query parameters (lowercased names) stored with the connection anyway.
    stored_credentials: frozenset[str] = frozenset()
    #: The origins a browser's CONNECT may come from (normalized); None: any.
    allowed_origins: frozenset[str] | None = None


class HTTPResponse(NamedTuple):
    """What an app answered to one HTTP request, before an event source shapes it for Lambda."""

    status: int
    headers: Headers
    body: bytes
