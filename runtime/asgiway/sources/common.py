"""Pieces of the ASGI scope that several event sources build the same way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from asgiway.types import Headers, LambdaEvent


def _values(single: Mapping[str, Any] | None, multi: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Pairs from an event's multi-value map when present, else from its single-value map."""
    pairs: list[tuple[str, str]] = []
    if multi:
        for name, values in multi.items():
            pairs.extend((str(name), str(value)) for value in (values or []))
    elif single:
        pairs.extend((str(name), str(value)) for name, value in single.items() if value is not None)
    return pairs


def headers_from(event: LambdaEvent) -> Headers:
    """ASGI headers from `headers`/`multiValueHeaders`: names lowercased, values kept apart.

    ASGI allows a name to repeat, so each value stays its own entry, except `cookie`, which
    RFC 6265 requires to be a single header whose values are joined by "; ".
    """
    pairs = _values(event.get("headers"), event.get("multiValueHeaders"))
    headers: Headers = []
    cookies: list[str] = []
    for name, value in pairs:
        lowered = name.lower()
        if lowered == "cookie":
            cookies.append(value)
        else:
            headers.append((lowered.encode("latin-1"), value.encode("latin-1", "replace")))
    if cookies:
        headers.append((b"cookie", "; ".join(cookies).encode("latin-1", "replace")))
    return headers


def query_string_from(event: LambdaEvent) -> bytes:
    """The raw query string for events whose parameters API Gateway has already decoded.

    REST (payload 1.0) and WebSocket CONNECT events carry decoded values, so they are
    percent-encoded again; repeated keys come from `multiValueQueryStringParameters`.
    """
    pairs = _values(event.get("queryStringParameters"), event.get("multiValueQueryStringParameters"))
    return urlencode(pairs).encode("ascii")


def header_value(headers: Headers, name: bytes) -> str | None:
    """The first value of a lowercased header name, decoded, or None."""
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


def server_from(headers: Headers, default_port: int) -> tuple[str, int]:
    """(host, port) from the Host header, as the client addressed the API."""
    host = header_value(headers, b"host") or "localhost"
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, int(port)
    return host, default_port
