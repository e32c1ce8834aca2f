"""Pieces of the ASGI scope that several event sources build the same way."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, urlencode

from asgiway.exceptions import MalformedEventError
from asgiway.types import Headers, LambdaContext, LambdaEvent, Scope

#: Characters RFC 3986 allows unencoded in a path segment, kept as they are when encoding a path.
_PATH_SAFE = "/:@!$&'()*+,;="


def _values(
    event: LambdaEvent, single_key: str, multi_key: str, *, names_fold_case: bool = False
) -> list[tuple[str, str]]:
    """Pairs from an event's multi-value map, then those of its single-value map whose name the
    multi-value map lacks.

    A REST event's `multiValueHeaders` may list fewer names than `headers`: AWS's own sample and
    console test events leave Host, User-Agent and X-Amzn-Trace-Id out of it. Reading only one map
    would lose them. `names_fold_case` says names match whatever their case (header names do).
    """
    single, multi = event.get(single_key), event.get(multi_key)
    if not multi:  # payload 2.0, Function URLs, most ALBs: one map, nothing to merge
        if not single:
            return []
        return [
            (str(name), str(value))
            for name, value in _mapping(single, single_key).items()
            if value is not None
        ]
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, values in _mapping(multi, multi_key).items():
        if values is not None and not isinstance(values, list):
            raise MalformedEventError(f"{multi_key}[{name!r}] must be a list, got {type(values).__name__}")
        pairs.extend((str(name), str(value)) for value in (values or []))
        seen.add(str(name).lower() if names_fold_case else str(name))
    if single:
        pairs.extend(
            (str(name), str(value))
            for name, value in _mapping(single, single_key).items()
            if value is not None and (str(name).lower() if names_fold_case else str(name)) not in seen
        )
    return pairs


def _mapping(value: Any, key: str) -> Mapping[str, Any]:
    if type(value) is not dict and not isinstance(value, Mapping):  # a JSON event's maps are dicts
        raise MalformedEventError(f"{key} must be an object, got {type(value).__name__}")
    return value


def headers_from(event: LambdaEvent) -> Headers:
    """ASGI headers from `headers`/`multiValueHeaders`: names lowercased, values kept apart.

    ASGI allows a name to repeat, so each value stays its own entry, except `cookie`, which
    RFC 6265 requires to be a single header whose values are joined by "; ". Payload 2.0
    (HTTP API, Function URL) moves the request's cookies out of `headers` into a top-level
    `cookies` list; they join that same header.
    """
    pairs = _values(event, "headers", "multiValueHeaders", names_fold_case=True)
    headers: Headers = []
    cookies: list[str] = []
    for name, value in pairs:
        lowered = name.lower()
        if lowered != "cookie":
            headers.append((lowered.encode("latin-1", "replace"), value.encode("latin-1", "replace")))
        else:
            cookies.append(value)
    cookies.extend(str(cookie) for cookie in event.get("cookies") or [])
    if cookies:
        headers.append((b"cookie", "; ".join(cookies).encode("latin-1", "replace")))
    return headers


def query_string_from(event: LambdaEvent) -> bytes:
    """The raw query string for events whose parameters API Gateway has already decoded.

    REST (payload 1.0) and WebSocket CONNECT events carry decoded values, so they are
    percent-encoded again; repeated keys come from `multiValueQueryStringParameters`.
    """
    pairs = _values(event, "queryStringParameters", "multiValueQueryStringParameters")
    return urlencode(pairs).encode("ascii")


def raw_query_string_from(event: LambdaEvent) -> bytes:
    """The query string for events whose parameters arrive still percent-encoded (ALB).

    An ALB passes keys and values on as the client sent them, so they are joined as they are:
    encoding them again would turn `%20` into `%2520`.
    """
    pairs = _values(event, "queryStringParameters", "multiValueQueryStringParameters")
    return "&".join(f"{name}={value}" for name, value in pairs).encode()


def header_value(headers: Headers, name: bytes) -> str | None:
    """The first value of a lowercased header name, decoded, or None."""
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def server_from(headers: Headers, default_port: int, default_host: str = "localhost") -> tuple[str, int]:
    """(host, port) from the Host header, as the client addressed the API.

    `default_host` stands in when the event has no Host header (API Gateway's own test events).
    """
    host = header_value(headers, b"host") or default_host
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, int(port)
    return host, default_port


def body_from(event: LambdaEvent) -> bytes:
    """The request body: base64-decoded when `isBase64Encoded` says so, b"" when absent."""
    body = event.get("body")
    if not body:
        return b""
    if event.get("isBase64Encoded"):
        return decoded_base64_body(body)
    return str(body).encode()


def decoded_base64_body(body: Any) -> bytes:
    """A body the event marks `isBase64Encoded`, decoded; MalformedEventError when it is not base64."""
    try:
        return base64.b64decode(body, validate=True)
    except (TypeError, ValueError) as exc:  # binascii.Error, or a non-ASCII str
        raise MalformedEventError("body is marked isBase64Encoded but is not base64") from exc


def strip_base_path(path: str, base_path: str) -> str:
    """`path` without a leading `base_path` ("/" when nothing is left).

    Requests through a custom domain's base path mapping carry that base path in the event's
    path, while the app routes without it. Only whole segments match: "/api" strips "/api/x",
    never "/apis".
    """
    base = "/" + base_path.strip("/")
    if base != "/" and (path == base or path.startswith(base + "/")):
        path = path[len(base) :]
    return path or "/"


def request_path(received: str | None, *, encoded: bool, base_path: str) -> tuple[str, bytes]:
    """ASGI (`path`, `raw_path`) from the path an event carries, its base path stripped.

    `encoded` says whether the source delivers the path percent-encoded as the client sent it
    (then it is the raw path) or already decoded (then the raw path is encoded from it).
    """
    path = strip_base_path(received or "/", base_path)
    if encoded:
        return unquote(path), path.encode()
    return path, quote(path, safe=_PATH_SAFE).encode("ascii")


def http_scope(
    event: LambdaEvent,
    context: LambdaContext | None,
    *,
    method: str,
    path: tuple[str, bytes],
    query_string: bytes,
    headers: Headers,
    client_host: str | None,
    domain_name: str | None = None,
    scheme: str | None = None,
) -> Scope:
    """The ASGI 3 `http` scope every HTTP source builds the same way from its event's parts.

    The scheme is `scheme` when the source knows it, else `x-forwarded-proto`, which API Gateway
    and ALB set (https when absent).
    `domain_name` (the API's, from `requestContext`) names the server when there is no Host header.
    `state` is left out: the adapter adds the lifespan state.
    """
    scheme = scheme or header_value(headers, b"x-forwarded-proto") or "https"
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path[0],
        "raw_path": path[1],
        "root_path": "",
        "query_string": query_string,
        "headers": headers,
        "client": (client_host, 0) if client_host else None,
        "server": server_from(headers, 80 if scheme == "http" else 443, domain_name or "localhost"),
        "aws.event": event,
        "aws.context": context,
    }
