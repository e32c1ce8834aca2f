"""The events API Gateway sends to Lambda, built from real local requests.

The shapes follow AWS's own captures: a WebSocket CONNECT carries the upgrade request's headers
(without `Connection` and `Upgrade`, plus the `X-Amzn-Trace-Id` and `X-Forwarded-*` API Gateway
adds), MESSAGE only a body, DISCONNECT four placeholder headers with the close code and reason.
HTTP requests become HTTP API payload 2.0 events. Ids take API Gateway's 16-character form.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from asgiway.sources.common import header_value

#: The account id that local ARNs and HTTP API events name (AWS's documentation placeholder).
LOCAL_ACCOUNT_ID = "123456789012"
#: Hop-by-hop headers, which API Gateway leaves out of the events.
_HOP_BY_HOP_HEADERS = frozenset({"connection", "upgrade"})
#: Header names whose usual spelling is not plain capitalisation of their parts.
_SPELLINGS = {"websocket": "WebSocket", "id": "Id"}


def new_id() -> str:
    """An id in the form of API Gateway's connection and request ids: 11 random bytes, base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode()


def now_ms() -> int:
    return int(time.time() * 1000)


def request_time(epoch_ms: int) -> str:
    """API Gateway's `requestTime` format, e.g. `11/Nov/2024:11:35:24 +0000`."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


def trace_id(epoch_ms: int) -> str:
    """An X-Ray trace id as API Gateway adds it: `Root=1-{epoch seconds, hex}-{96 random bits}`."""
    return f"Root=1-{epoch_ms // 1000:08x}-{secrets.token_hex(12)}"


def forwarding_headers(source_ip: str, port: int, proto: str, epoch_ms: int) -> list[tuple[str, str]]:
    """The headers API Gateway adds to what the client sent."""
    return [
        ("X-Amzn-Trace-Id", trace_id(epoch_ms)),
        ("X-Forwarded-For", source_ip),
        ("X-Forwarded-Port", str(port)),
        ("X-Forwarded-Proto", proto),
    ]


def canonical_header_name(name: str) -> str:
    """`sec-websocket-key` → `Sec-WebSocket-Key`: how clients spell the headers API Gateway passes on.

    ASGI servers hand over lowercase names; API Gateway keeps the client's spelling, which for
    browsers and common clients is this one.
    """
    return "-".join(_SPELLINGS.get(part, part.capitalize()) for part in name.split("-"))


@dataclass(frozen=True)
class Stage:
    """The WebSocket API and stage being played: what every event's requestContext names."""

    name: str
    domain_name: str
    api_id: str = "asgiwaydev"


@dataclass(frozen=True)
class Client:
    """What API Gateway remembers of a WebSocket client from its upgrade request."""

    connection_id: str
    source_ip: str
    connected_at: int
    headers: tuple[tuple[str, str], ...] = ()
    query_string: str = ""
    user_agent: str | None = field(default=None)
    #: What a `$connect` authorizer allowed the connection with: its context and principalId, which
    #: every event of the connection carries as `requestContext.authorizer`.
    authorizer: dict[str, Any] | None = None

    @classmethod
    def from_upgrade(
        cls, headers: Iterable[tuple[bytes, bytes]], source_ip: str, query_string: bytes
    ) -> Client:
        raw = list(headers)  # ASGI header names are lowercase
        decoded = tuple((name.decode("latin-1"), value.decode("latin-1")) for name, value in raw)
        return cls(
            connection_id=new_id(),
            source_ip=source_ip,
            connected_at=now_ms(),
            headers=decoded,
            query_string=query_string.decode("latin-1"),
            user_agent=header_value(raw, b"user-agent"),
        )

    def identity(self) -> dict[str, str]:
        identity = {"userAgent": self.user_agent} if self.user_agent else {}
        return {**identity, "sourceIp": self.source_ip}


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Each name's values, in order."""
    grouped: dict[str, list[str]] = {}
    for name, value in pairs:
        grouped.setdefault(name, []).append(value)
    return grouped


def single_and_multi(pairs: Iterable[tuple[str, str]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """API Gateway v1's two views of repeated keys: the last value, and all of them."""
    multi = _grouped(pairs)
    return {name: values[-1] for name, values in multi.items()}, multi


def _comma_joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """HTTP API's view of repeated keys: their values joined by commas."""
    return {name: ",".join(values) for name, values in _grouped(pairs).items()}


def websocket_request_context(
    stage: Stage, client: Client, event_type: str, route_key: str, epoch_ms: int
) -> dict[str, Any]:
    request_id = new_id()
    context: dict[str, Any] = {
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": request_id,
        "requestTime": request_time(epoch_ms),
        "messageDirection": "IN",
        "stage": stage.name,
        "connectedAt": client.connected_at,
        "requestTimeEpoch": epoch_ms,
        "identity": client.identity(),
        "requestId": request_id,
        "domainName": stage.domain_name,
        "connectionId": client.connection_id,
        "apiId": stage.api_id,
    }
    if client.authorizer is not None:
        context["authorizer"] = dict(client.authorizer)
    return context


def upgrade_headers(
    client: Client, *, port: int, proto: str, epoch_ms: int, hop_by_hop: bool = False
) -> list[tuple[str, str]]:
    """The upgrade request's headers as API Gateway passes them on, sorted by name as AWS's captures
    are; `Connection` and `Upgrade` only when `hop_by_hop` (an authorizer gets them, `$connect` not)."""
    passed_on = [
        (canonical_header_name(name), value)
        for name, value in client.headers
        if hop_by_hop or name.lower() not in _HOP_BY_HOP_HEADERS
    ]
    added = forwarding_headers(client.source_ip, port, proto, epoch_ms)
    return sorted([*passed_on, *added], key=lambda pair: pair[0].lower())


def query_parameters(client: Client) -> dict[str, Any]:
    """`queryStringParameters` and `multiValueQueryStringParameters`, absent for no query string."""
    query = parse_qsl(client.query_string, keep_blank_values=True)
    if not query:
        return {}
    single, multi = single_and_multi(query)
    return {"queryStringParameters": single, "multiValueQueryStringParameters": multi}


def connect_event(stage: Stage, client: Client, *, port: int, proto: str) -> dict[str, Any]:
    """The `$connect` event for a client's upgrade request."""
    epoch_ms = now_ms()
    headers, multi_headers = single_and_multi(
        upgrade_headers(client, port=port, proto=proto, epoch_ms=epoch_ms)
    )
    return {
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "requestContext": websocket_request_context(stage, client, "CONNECT", "$connect", epoch_ms),
        "isBase64Encoded": False,
        **query_parameters(client),
    }


def message_event(
    stage: Stage, client: Client, data: str | bytes, *, route_key: str = "$default"
) -> dict[str, Any]:
    """A MESSAGE event for one client frame; a binary frame travels base64-encoded."""
    context = websocket_request_context(stage, client, "MESSAGE", route_key, now_ms())
    context["messageId"] = new_id()
    return {
        "requestContext": context,
        "body": base64.b64encode(data).decode() if isinstance(data, bytes) else data,
        "isBase64Encoded": isinstance(data, bytes),
    }


def disconnect_headers(domain_name: str) -> dict[str, str]:
    """The placeholder headers API Gateway puts in every `$disconnect` event."""
    return {"Host": domain_name, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}


def disconnect_event(stage: Stage, client: Client, *, code: int, reason: str) -> dict[str, Any]:
    """The `$disconnect` event, with the close code and reason of the real close."""
    headers = disconnect_headers(stage.domain_name)
    context = websocket_request_context(stage, client, "DISCONNECT", "$disconnect", now_ms())
    context.update(disconnectStatusCode=code, disconnectReason=reason)
    return {
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "requestContext": context,
        "isBase64Encoded": False,
    }


def http_api_event(
    *,
    method: str,
    path: str,
    query_string: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
    source_ip: str,
    domain_name: str,
    api_id: str,
    text_body: bool,
    port: int,
    proto: str,
) -> dict[str, Any]:
    """An HTTP API payload 2.0 event: lowercase headers with repeats joined by commas, cookies apart."""
    epoch_ms = now_ms()
    lowered = [
        (name.lower(), value)
        for name, value in [*headers, *forwarding_headers(source_ip, port, proto, epoch_ms)]
        if name.lower() not in _HOP_BY_HOP_HEADERS
    ]
    cookies = [
        part.strip()
        for name, value in lowered
        if name == "cookie"
        for part in value.split(";")
        if part.strip()
    ]
    joined = _comma_joined((name, value) for name, value in lowered if name != "cookie")
    if not body:
        # HTTP API's events say so for a request without a body (a GET, say), as its captures show.
        joined.setdefault("content-length", "0")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query_string,
        "headers": joined,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": api_id,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".", 1)[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": new_id(),
            "routeKey": "$default",
            "stage": "$default",
            "time": request_time(epoch_ms),
            "timeEpoch": epoch_ms,
        },
        "isBase64Encoded": not text_body,
    }
    if cookies:
        event["cookies"] = cookies
    query = _comma_joined(parse_qsl(query_string, keep_blank_values=True))
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = body.decode("utf-8") if text_body else base64.b64encode(body).decode()
    return event
