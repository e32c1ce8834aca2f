"""The Lambda event sources that carry HTTP requests, and how the adapter picks one.

Telling sources apart takes a few dictionary lookups, so those tests live here; each source's
module (scope building, response shaping) loads when its first event arrives: a cold start pays
for the one source its function is behind, not for all four. `from asgiway.sources import ALB`
and the like still work, loading that module then.

WebSocket events are not HTTP events: their source lives in `sources.websocket`, which loads only
once a WebSocket event arrives; `is_websocket_event` tells them apart without it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asgiway.types import AdapterConfig, LambdaContext, LambdaEvent

if TYPE_CHECKING:
    from asgiway.sources.alb import ALB
    from asgiway.sources.api_gateway_v1 import APIGatewayV1
    from asgiway.sources.api_gateway_v2 import APIGatewayV2
    from asgiway.sources.base import HTTPSource
    from asgiway.sources.lambda_edge import LambdaEdge

    HTTP_SOURCES: tuple[type[HTTPSource], ...]

#: The scope key that tells the app which API Gateway event this session serves:
#: "connect" for the real handshake, "message" or "disconnect" where the handshake is a replay.
EVENT_SCOPE_KEY = "asgiway.event"

#: The `requestContext.eventType` values of an API Gateway WebSocket API; no other source sets it.
WEBSOCKET_EVENT_TYPES = frozenset({"CONNECT", "MESSAGE", "DISCONNECT"})

#: The Lambda@Edge trigger events that ask for a response rather than modify one.
EDGE_REQUEST_EVENT_TYPES = frozenset({"viewer-request", "origin-request"})

__all__ = [
    "ALB",
    "EDGE_REQUEST_EVENT_TYPES",
    "EVENT_SCOPE_KEY",
    "HTTP_SOURCES",
    "WEBSOCKET_EVENT_TYPES",
    "APIGatewayV1",
    "APIGatewayV2",
    "HTTPSource",
    "LambdaEdge",
    "infer_http_source",
    "is_alb_event",
    "is_http_api_event",
    "is_lambda_edge_request",
    "is_rest_api_event",
    "is_websocket_event",
]


def is_websocket_event(event: LambdaEvent) -> bool:
    """True for events a WebSocket API sends: only they carry requestContext.eventType."""
    context = event.get("requestContext")
    if not isinstance(context, dict):
        return False
    event_type = context.get("eventType")
    return isinstance(event_type, str) and event_type in WEBSOCKET_EVENT_TYPES


def is_alb_event(event: LambdaEvent) -> bool:
    """An event whose `requestContext` has an `elb` object."""
    request_context = event.get("requestContext")
    return isinstance(request_context, dict) and "elb" in request_context


def is_http_api_event(event: LambdaEvent) -> bool:
    """An event with `version` "2.0" and a `requestContext.http` object (HTTP API, Function URL)."""
    request_context = event.get("requestContext")
    return (
        event.get("version") == "2.0"
        and isinstance(request_context, dict)
        and isinstance(request_context.get("http"), dict)
    )


def is_rest_api_event(event: LambdaEvent) -> bool:
    """An event with `httpMethod` and a `requestContext` neither ALB's nor a WebSocket's.

    WebSocket events carry `requestContext.eventType` (CONNECT, MESSAGE, DISCONNECT).
    """
    request_context = event.get("requestContext")
    return (
        "httpMethod" in event
        and isinstance(request_context, dict)
        and "elb" not in request_context
        and "eventType" not in request_context
    )


def is_lambda_edge_request(event: LambdaEvent) -> bool:
    """An event whose first record has a `cf` object from a request trigger."""
    records = event.get("Records")
    if not isinstance(records, list) or not records or not isinstance(records[0], dict):
        return False
    cf = records[0].get("cf")
    if not isinstance(cf, dict) or not isinstance(cf.get("config"), dict):
        return False
    return cf["config"].get("eventType") in EDGE_REQUEST_EVENT_TYPES


#: Each HTTP source's claim on an event and the (module, class) that serves it, in the order the
#: adapter tries them: the most specific test first.
_CLAIMS: tuple[tuple[Callable[[LambdaEvent], bool], str, str], ...] = (
    (is_alb_event, "asgiway.sources.alb", "ALB"),
    (is_http_api_event, "asgiway.sources.api_gateway_v2", "APIGatewayV2"),
    (is_rest_api_event, "asgiway.sources.api_gateway_v1", "APIGatewayV1"),
    (is_lambda_edge_request, "asgiway.sources.lambda_edge", "LambdaEdge"),
)
#: Where the names that load on first use live.
_LAZY_NAMES = {name: module for _, module, name in _CLAIMS} | {"HTTPSource": "asgiway.sources.base"}


def infer_http_source(
    event: LambdaEvent, context: LambdaContext | None, config: AdapterConfig
) -> HTTPSource | None:
    """The first source in `HTTP_SOURCES` that claims `event`, or None when none does."""
    for claims, _, name in _CLAIMS:
        if claims(event):
            source: type[HTTPSource] = globals().get(name) or __getattr__(name)
            return source(event, context, config)
    return None


def __getattr__(name: str) -> Any:
    """A source class, loaded at its first use and kept as a module attribute from then on."""
    if name == "HTTP_SOURCES":
        value: Any = tuple(__getattr__(claimed) for _, _, claimed in _CLAIMS)
    elif name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
