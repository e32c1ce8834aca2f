"""The Lambda event sources that carry HTTP requests, and how the adapter picks one.

WebSocket events are not HTTP events: their source lives in `sources.websocket`, which loads only
once a WebSocket event arrives; `is_websocket_event` tells them apart without it.
"""

from __future__ import annotations

from asgiway.sources.alb import ALB
from asgiway.sources.api_gateway_v1 import APIGatewayV1
from asgiway.sources.api_gateway_v2 import APIGatewayV2
from asgiway.sources.base import HTTPSource
from asgiway.sources.lambda_edge import LambdaEdge
from asgiway.types import AdapterConfig, LambdaContext, LambdaEvent

#: The HTTP event sources in the order the adapter tries them: the most specific test first.
HTTP_SOURCES: tuple[type[HTTPSource], ...] = (ALB, APIGatewayV2, APIGatewayV1, LambdaEdge)

#: The scope key that tells the app which API Gateway event this session serves:
#: "connect" for the real handshake, "message" or "disconnect" where the handshake is a replay.
EVENT_SCOPE_KEY = "asgiway.event"

#: The `requestContext.eventType` values of an API Gateway WebSocket API; no other source sets it.
WEBSOCKET_EVENT_TYPES = frozenset({"CONNECT", "MESSAGE", "DISCONNECT"})

__all__ = [
    "ALB",
    "EVENT_SCOPE_KEY",
    "HTTP_SOURCES",
    "WEBSOCKET_EVENT_TYPES",
    "APIGatewayV1",
    "APIGatewayV2",
    "HTTPSource",
    "LambdaEdge",
    "infer_http_source",
    "is_websocket_event",
]


def is_websocket_event(event: LambdaEvent) -> bool:
    """True for events a WebSocket API sends: only they carry requestContext.eventType."""
    context = event.get("requestContext")
    if not isinstance(context, dict):
        return False
    event_type = context.get("eventType")
    return isinstance(event_type, str) and event_type in WEBSOCKET_EVENT_TYPES


def infer_http_source(
    event: LambdaEvent, context: LambdaContext | None, config: AdapterConfig
) -> HTTPSource | None:
    """The first source in `HTTP_SOURCES` that claims `event`, or None when none does."""
    for source in HTTP_SOURCES:
        if source.infer(event, context, config):
            return source(event, context, config)
    return None
