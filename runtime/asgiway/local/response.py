"""A response as API Gateway writes it, and how it reads a Lambda proxy result into one.

A proxy result is `statusCode` (an integer from 100 to 599), `headers` (names to strings or
numbers), `cookies` (a list of `Set-Cookie` values), `body` (a string) and `isBase64Encoded`.
Anything else is malformed, and API Gateway answers 502 for it rather than guess.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from asgiway.sources.common import header_value
from asgiway.types import Headers

#: Characters no header may carry: a CR or LF would end the header early (response splitting).
_UNSAFE_HEADER_TEXT = re.compile(r"[\r\n\x00]")


class MalformedResultError(ValueError):
    """A Lambda result that is not a valid proxy response."""


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    headers: Headers
    body: bytes

    @classmethod
    def message(cls, status: int, message: str, headers: dict[str, str] | None = None) -> GatewayResponse:
        """API Gateway's own answer, e.g. `{"message":"Internal Server Error"}`."""
        body = json.dumps({"message": message}, separators=(",", ":")).encode()
        return cls(status, [(b"content-type", b"application/json"), *encode_headers(headers or {})], body)

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name.lower().encode("latin-1"))


def encode_headers(headers: dict[str, str]) -> Headers:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


def status_of(result: Any) -> int:
    """The result's statusCode; MalformedResultError unless it is an integer HTTP status."""
    status = result.get("statusCode") if isinstance(result, dict) else None
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResultError(f"statusCode must be an integer from 100 to 599, got {status!r}")
    return status


def proxy_response(result: Any) -> GatewayResponse:
    """The response a proxy result describes; MalformedResultError when it is not one."""
    status = status_of(result)
    headers = result.get("headers") or {}
    cookies = result.get("cookies") or []
    if not isinstance(headers, dict) or not isinstance(cookies, list):
        raise MalformedResultError("headers must be an object and cookies a list")
    pairs = [(str(name).lower(), _header_text(value)) for name, value in headers.items()]
    pairs += [("set-cookie", _header_text(cookie)) for cookie in cookies]
    if any(_UNSAFE_HEADER_TEXT.search(name + value) for name, value in pairs):
        raise MalformedResultError("a header name or value holds a line break")
    body = result.get("body") or ""
    if not isinstance(body, str):
        raise MalformedResultError("body must be a string")
    try:
        data = base64.b64decode(body, validate=True) if result.get("isBase64Encoded") else body.encode()
        encoded = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise MalformedResultError(str(exc)) from None
    return GatewayResponse(status, encoded, data)


def _header_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise MalformedResultError(f"a header value must be a string or a number, got {value!r}")
    return str(value)
