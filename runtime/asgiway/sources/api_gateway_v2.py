"""API Gateway HTTP API events in payload format 2.0, and Lambda Function URL events.

Both send the same shape: `version` "2.0", `rawPath`, `rawQueryString` (percent-encoded as
received), `headers` with repeated values joined by commas, cookies in a top-level `cookies`
list, and `requestContext.http` with the method and source IP. They differ in one fact: a
Function URL passes `rawPath` percent-encoded, while an HTTP API decodes it despite its name
(a request for `/a%2Fb` arrives as `/a/b`). Function URLs are told apart by their domain,
`<url-id>.lambda-url.<region>.on.aws`.
"""

from __future__ import annotations

from typing import Any

from asgiway.sources import is_http_api_event
from asgiway.sources.base import HTTPSource
from asgiway.sources.common import body_from, headers_from, http_scope, request_path
from asgiway.sources.response import ProxyResponse
from asgiway.types import (
    AdapterConfig,
    HTTPResponse,
    LambdaContext,
    LambdaEvent,
    LambdaResponse,
    Scope,
)


class APIGatewayV2(HTTPSource):
    """A request through an HTTP API (payload 2.0) or a Lambda Function URL."""

    @classmethod
    def infer(cls, event: LambdaEvent, context: LambdaContext | None, config: AdapterConfig) -> bool:
        return is_http_api_event(event)

    @property
    def is_function_url(self) -> bool:
        domain_name = self.event["requestContext"].get("domainName") or ""
        return isinstance(domain_name, str) and ".lambda-url." in domain_name

    @property
    def bounded_by_api_gateway(self) -> bool:  # type: ignore[override]
        """A Function URL request runs as long as the function may (up to 15 minutes)."""
        return not self.is_function_url

    @property
    def scope(self) -> Scope:
        request_context: dict[str, Any] = self.event["requestContext"]
        domain_name: str = request_context.get("domainName") or ""
        return http_scope(
            self.event,
            self.context,
            method=request_context["http"]["method"],
            path=request_path(
                self.event.get("rawPath"),
                # A Function URL keeps the path percent-encoded; an HTTP API decodes it.
                encoded=self.is_function_url,
                base_path=self.config.api_gateway_base_path,
            ),
            query_string=str(self.event.get("rawQueryString") or "").encode(),
            headers=headers_from(self.event),
            client_host=request_context["http"].get("sourceIp"),
            domain_name=domain_name,
        )

    @property
    def body(self) -> bytes:
        return body_from(self.event)

    def __call__(self, response: HTTPResponse) -> LambdaResponse:
        """Payload 2.0 has no `multiValueHeaders`: repeats are joined, cookies go in `cookies`."""
        proxy = ProxyResponse.from_response(response, self.config)
        return {**proxy.fields(), "headers": proxy.joined_headers(), "cookies": proxy.cookies}
