"""The Lambda event sources that carry HTTP requests, and how the adapter picks one.

WebSocket events are not HTTP events: their source lives in `sources.websocket`.
"""

from __future__ import annotations

from asgiway.sources.alb import ALB
from asgiway.sources.api_gateway_v1 import APIGatewayV1
from asgiway.sources.api_gateway_v2 import APIGatewayV2
from asgiway.sources.base import HTTPSource
from asgiway.types import AdapterConfig, LambdaContext, LambdaEvent

#: The HTTP event sources in the order the adapter tries them: the most specific test first.
HTTP_SOURCES: tuple[type[HTTPSource], ...] = (ALB, APIGatewayV2, APIGatewayV1)

__all__ = ["ALB", "HTTP_SOURCES", "APIGatewayV1", "APIGatewayV2", "HTTPSource", "infer_http_source"]


def infer_http_source(
    event: LambdaEvent, context: LambdaContext | None, config: AdapterConfig
) -> HTTPSource | None:
    """The first source in `HTTP_SOURCES` that claims `event`, or None when none does."""
    for source in HTTP_SOURCES:
        if source.infer(event, context, config):
            return source(event, context, config)
    return None
