"""Events shaped like API Gateway's captures, and a Lambda context, for tests.

The shapes follow real captures: CONNECT has headers, multiValueHeaders and query parameters;
MESSAGE has only a body; DISCONNECT has placeholder headers, a close code and a reason. Unlike
`asgiway.local.events`, which builds them from real requests, these take whatever a test dictates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asgiway.local import events as local
from asgiway.local.context import LocalContext
from asgiway.local.events import Client, Stage, http_api_event, now_ms, websocket_request_context

DOMAIN = "abcdef1234.execute-api.us-east-1.amazonaws.com"


def _api_and_client(connection_id: str, stage: str, domain: str) -> tuple[Stage, Client]:
    client = Client(connection_id=connection_id, source_ip="127.0.0.1", connected_at=now_ms())
    return Stage(stage, domain, api_id=domain.split(".", 1)[0]), client


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
        "requestContext": websocket_request_context(
            *_api_and_client(connection_id, stage, domain), "CONNECT", "$connect", now_ms()
        ),
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
    """A MESSAGE event; bytes become a base64 body, None leaves the body out (a malformed event)."""
    event = local.message_event(
        *_api_and_client(connection_id, stage, domain), body or "", route_key=route_key
    )
    if body is None:
        del event["body"]
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
    return local.disconnect_event(*_api_and_client(connection_id, stage, domain), code=code, reason=reason)


#: A Lambda context with a real countdown; the same object `asgiway dev` and `asgiway invoke` pass.
LambdaContextStub = LocalContext


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
    return http_api_event(
        method=method,
        path=path,
        query_string=query,
        headers=[("host", domain), *(headers or {}).items()],
        body=body.encode() if isinstance(body, str) else body or b"",
        source_ip="127.0.0.1",
        domain_name=domain,
        api_id=domain.split(".", 1)[0],
        text_body=not isinstance(body, bytes),
        port=443,
        proto="https",
    )
