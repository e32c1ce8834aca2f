"""Lambda@Edge viewer-request and origin-request events: CloudFront asks, the app generates the response.

Facts from CloudFront's Developer Guide this module relies on:
- the event is `Records[0].cf`: `config.eventType` ("viewer-request", "origin-request", ...),
  `config.distributionDomainName`, and a `request` with `clientIp`, `method`, `uri` (the path as
  the viewer sent it), `querystring` (without "?", as sent), `headers` mapping lowercase names to
  lists of `{"key", "value"}`, and, when the trigger includes the body, `body` with `data`
  (`encoding` "base64" or "text") and `inputTruncated`
  (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/lambda-event-structure.html);
- a generated response has `status` as a string, `statusDescription`, `headers` in that same
  shape, `body` and `bodyEncoding` "text" or "base64"
  (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/lambda-generating-http-responses.html);
- limits: the request body reaches the function only up to 40 KB (viewer request) or 1 MB (origin
  request), beyond which it is truncated and `inputTruncated` is true; a generated response,
  headers and body, may be at most 40 KB (viewer request) or 1 MB (origin request), or CloudFront
  answers 502 (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/cloudfront-limits.html#limits-lambda-at-edge);
- CloudFront refuses (502) a response carrying a disallowed header such as Connection or
  X-Forwarded-Proto
  (https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/edge-function-restrictions-all.html).

Response events (origin-response, viewer-response) modify a response that exists; an ASGI app
makes its own, so they are not served.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from asgiway.sources import is_lambda_edge_request
from asgiway.sources.base import HTTPSource
from asgiway.sources.common import decoded_base64_body, header_value, http_scope, request_path
from asgiway.sources.response import ProxyResponse
from asgiway.types import (
    AdapterConfig,
    Headers,
    HTTPResponse,
    LambdaContext,
    LambdaEvent,
    LambdaResponse,
    Scope,
)

logger = logging.getLogger("asgiway")

#: The most a generated response (headers and body) may weigh, by trigger.
MAX_GENERATED_RESPONSE_BYTES = {"viewer-request": 40 * 1024, "origin-request": 1024 * 1024}
#: Headers CloudFront does not let a function set; a response carrying one is answered 502.
DISALLOWED_HEADERS = frozenset(
    {
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "trailer",
        "upgrade",
        "x-accel-buffering",
        "x-accel-charset",
        "x-accel-limit-rate",
        "x-accel-redirect",
        "x-amzn-auth",
        "x-amzn-cf-billing",
        "x-amzn-cf-id",
        "x-amzn-cf-xff",
        "x-amzn-errortype",
        "x-amzn-fle-profile",
        "x-amzn-header-count",
        "x-amzn-header-order",
        "x-amzn-lambda-integration-tag",
        "x-amzn-requestid",
        "x-cache",
        "x-forwarded-proto",
        "x-real-ip",
        # Lambda returns the body whole: a chunked framing header would describe nothing.
        "transfer-encoding",
    }
)
DISALLOWED_HEADER_PREFIXES = ("x-amz-cf-", "x-edge-")

PAYLOAD_TOO_LARGE = HTTPResponse(413, [(b"content-type", b"text/plain; charset=utf-8")], b"Payload Too Large")


def _cf(event: LambdaEvent) -> dict[str, Any]:
    cf: dict[str, Any] = event["Records"][0]["cf"]
    return cf


class LambdaEdge(HTTPSource):
    """A CloudFront viewer-request or origin-request event to a Lambda@Edge function."""

    #: Lambda@Edge functions run within their own (short) timeouts, which Lambda enforces.
    bounded_by_api_gateway = False

    @classmethod
    def infer(cls, event: LambdaEvent, context: LambdaContext | None, config: AdapterConfig) -> bool:
        return is_lambda_edge_request(event)

    @property
    def event_type(self) -> str:
        event_type: str = _cf(self.event)["config"]["eventType"]
        return event_type

    @property
    def scope(self) -> Scope:
        cf = _cf(self.event)
        request: dict[str, Any] = cf["request"]
        headers = _headers(request.get("headers") or {})
        return http_scope(
            self.event,
            self.context,
            method=request["method"],
            path=request_path(request.get("uri"), encoded=True, base_path=self.config.api_gateway_base_path),
            query_string=str(request.get("querystring") or "").encode(),
            headers=headers,
            client_host=request.get("clientIp"),
            domain_name=cf["config"].get("distributionDomainName"),
            # CloudFront passes the viewer's protocol only in this header, when a policy forwards it.
            scheme=header_value(headers, b"cloudfront-forwarded-proto"),
        )

    @property
    def body(self) -> bytes:
        body = _cf(self.event)["request"].get("body")
        if not isinstance(body, dict) or not body.get("data"):
            return b""
        if body.get("encoding") == "base64":
            return decoded_base64_body(body["data"])
        return str(body["data"]).encode()

    def refusal(self) -> HTTPResponse | None:
        """413 for a body CloudFront truncated: the app must never take part of a body for all of it."""
        body = _cf(self.event)["request"].get("body")
        if isinstance(body, dict) and body.get("inputTruncated") is True:
            logger.error(
                "Answered 413: CloudFront truncated the request body of this %s event (at most 40 KB "
                "reach a viewer-request function, 1 MB an origin-request one)",
                self.event_type,
            )
            return PAYLOAD_TOO_LARGE
        return None

    def __call__(self, response: HTTPResponse) -> LambdaResponse:
        proxy = ProxyResponse.from_response(response, self.config)
        headers: dict[str, list[dict[str, str]]] = {}
        dropped: list[str] = []
        for name, values in proxy.headers.items():
            if name in DISALLOWED_HEADERS or name.startswith(DISALLOWED_HEADER_PREFIXES):
                dropped.append(name)
                continue
            headers[name] = [{"key": _display_name(name), "value": value} for value in values]
        if dropped:
            logger.info("Left out headers CloudFront refuses in a generated response: %s", ", ".join(dropped))
        try:
            description = HTTPStatus(proxy.status_code).phrase
        except ValueError:
            description = ""
        shaped: LambdaResponse = {
            "status": str(proxy.status_code),
            "statusDescription": description,
            "headers": headers,
            "body": proxy.body,
            "bodyEncoding": "base64" if proxy.is_base64_encoded else "text",
        }
        self._check_size(shaped)
        return shaped

    def _check_size(self, shaped: LambdaResponse) -> None:
        limit = MAX_GENERATED_RESPONSE_BYTES.get(self.event_type)
        size = len(json.dumps({"headers": shaped["headers"], "body": shaped["body"]}).encode())
        if limit is not None and size > limit:
            logger.error(
                "The response weighs %d bytes, over the %d CloudFront allows a %s function to "
                "generate: CloudFront will answer 502 instead",
                size,
                limit,
                self.event_type,
            )


def _headers(cloudfront_headers: dict[str, Any]) -> Headers:
    """ASGI headers from CloudFront's `{name: [{"key", "value"}, ...]}` map."""
    headers: Headers = []
    for name, entries in cloudfront_headers.items():
        for entry in entries:
            headers.append((str(name).lower().encode("latin-1"), str(entry["value"]).encode("latin-1")))
    return headers


def _display_name(name: str) -> str:
    """ "content-type" as "Content-Type": CloudFront sends the `key` spelling to the viewer."""
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))
