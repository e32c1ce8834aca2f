"""WebSocket events shaped like API Gateway's captures, and a Lambda context, for tests.

The shapes follow real captures: CONNECT has headers, multiValueHeaders and query parameters;
MESSAGE has only a body; DISCONNECT has placeholder headers, a close code and a reason.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DOMAIN = "abcdef1234.execute-api.us-east-1.amazonaws.com"


def _request_context(
    event_type: str, route_key: str, connection_id: str, stage: str, domain: str
) -> dict[str, Any]:
    now = int(time.time() * 1000)
    request_id = base64.b64encode(uuid.uuid4().bytes[:10]).decode()
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
        "messageDirection": "IN",
        "stage": stage,
        "connectedAt": now,
        "requestTimeEpoch": now,
        "identity": {"sourceIp": "127.0.0.1"},
        "requestId": request_id,
        "domainName": domain,
        "connectionId": connection_id,
        "apiId": domain.split(".", 1)[0],
    }


def connect_event(
    connection_id: str,
    *,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, list[str]] | None = None,
    subprotocols: list[str] | None = None,
    authorizer: Mapping[str, Any] | None = None,
    stage: str = "test",
    domain: str = DOMAIN,
) -> dict[str, Any]:
    """A `$connect` event; `query` maps each name to its values, as multiValueQueryStringParameters."""
    all_headers = {
        "Host": domain,
        "Sec-WebSocket-Version": "13",
        "X-Forwarded-Proto": "https",
        **(headers or {}),
    }
    if subprotocols:
        all_headers["Sec-WebSocket-Protocol"] = ", ".join(subprotocols)
    event: dict[str, Any] = {
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "requestContext": _request_context("CONNECT", "$connect", connection_id, stage, domain),
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = {name: values[-1] for name, values in query.items()}
        event["multiValueQueryStringParameters"] = {name: list(values) for name, values in query.items()}
    if authorizer is not None:
        event["requestContext"]["authorizer"] = dict(authorizer)
    return event


def message_event(
    connection_id: str,
    body: str | bytes | None,
    *,
    route_key: str = "$default",
    stage: str = "test",
    domain: str = DOMAIN,
) -> dict[str, Any]:
    """A MESSAGE event; bytes become a base64 body, None leaves the body out."""
    context = _request_context("MESSAGE", route_key, connection_id, stage, domain)
    context["messageId"] = context["requestId"]
    event: dict[str, Any] = {"requestContext": context, "isBase64Encoded": isinstance(body, bytes)}
    if isinstance(body, bytes):
        event["body"] = base64.b64encode(body).decode()
    elif body is not None:
        event["body"] = body
    return event


def disconnect_event(
    connection_id: str,
    *,
    code: int = 1000,
    reason: str = "",
    stage: str = "test",
    domain: str = DOMAIN,
) -> dict[str, Any]:
    """A `$disconnect` event with the close code and reason API Gateway reports."""
    headers = {"Host": domain, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
    context = _request_context("DISCONNECT", "$disconnect", connection_id, stage, domain)
    context.update(disconnectStatusCode=code, disconnectReason=reason)
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


@dataclass
class LambdaContextStub:
    """The parts of Lambda's context object that handlers read, with a real countdown."""

    timeout_seconds: float = 30.0
    function_name: str = "asgiway-test"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:asgiway-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


def http_event(
    method: str = "GET",
    path: str = "/",
    *,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: str | bytes | None = None,
    domain: str = DOMAIN,
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event; bytes bodies are base64-encoded as API Gateway does."""
    all_headers = {
        "host": domain,
        "x-forwarded-proto": "https",
        "x-forwarded-port": "443",
        **(headers or {}),
    }
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": domain.split(".", 1)[0],
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "asgiway",
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": isinstance(body, bytes),
    }
    if isinstance(body, bytes):
        event["body"] = base64.b64encode(body).decode()
    elif body is not None:
        event["body"] = body
    return event
