"""API Gateway REST API events, and HTTP API events in payload format 1.0.

Both share one shape: `httpMethod`, `path`, `headers`/`multiValueHeaders`, decoded
`queryStringParameters`/`multiValueQueryStringParameters` and `requestContext.identity.sourceIp`.
They differ in one fact: a REST API passes `path` percent-encoded as the client sent it, an
HTTP API decodes it first, and only the HTTP API's events carry `"version": "1.0"`.
"""

from __future__ import annotations

from typing import Any

from asgiway.sources import is_rest_api_event
from asgiway.sources.base import HTTPSource
from asgiway.sources.common import (
    body_from,
    headers_from,
    http_scope,
    query_string_from,
    request_path,
)
from asgiway.sources.response import ProxyResponse
from asgiway.types import (
    AdapterConfig,
    HTTPResponse,
    LambdaContext,
    LambdaEvent,
    LambdaResponse,
    Scope,
)


class APIGatewayV1(HTTPSource):
    """A request through a REST API (or an HTTP API sending payload 1.0) to a Lambda proxy."""

    @classmethod
    def infer(cls, event: LambdaEvent, context: LambdaContext | None, config: AdapterConfig) -> bool:
        return is_rest_api_event(event)

    @property
    def scope(self) -> Scope:
        request_context: dict[str, Any] = self.event["requestContext"]
        identity = request_context.get("identity") or {}
        return http_scope(
            self.event,
            self.context,
            method=self.event["httpMethod"],
            path=request_path(
                self.event.get("path"),
                # Only HTTP API events have a version, and an HTTP API decodes the path.
                encoded="version" not in self.event,
                base_path=self.config.api_gateway_base_path,
            ),
            query_string=query_string_from(self.event),
            headers=headers_from(self.event),
            client_host=identity.get("sourceIp"),
            domain_name=request_context.get("domainName"),
        )

    @property
    def body(self) -> bytes:
        return body_from(self.event)

    def __call__(self, response: HTTPResponse) -> LambdaResponse:
        """Headers sent once go in `headers`, repeated ones (Set-Cookie) in `multiValueHeaders`.

        API Gateway merges the two maps into the response it sends.
        """
        proxy = ProxyResponse.from_response(response, self.config)
        return {
            **proxy.fields(),
            "headers": {name: values[0] for name, values in proxy.headers.items() if len(values) == 1},
            "multiValueHeaders": {name: values for name, values in proxy.headers.items() if len(values) > 1},
        }
