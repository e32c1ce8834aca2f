"""The part of a Lambda proxy response that API Gateway (payload 1.0 and 2.0) and ALB share.

All three take `statusCode`, `body` and `isBase64Encoded`; they differ only in how headers and
cookies travel, which each source's `__call__` decides from a `ProxyResponse`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from asgiway.types import AdapterConfig, HTTPResponse, LambdaResponse


def is_text(headers: Mapping[str, list[str]], text_mime_types: Iterable[str]) -> bool:
    """True when the body may go back as a string rather than base64.

    The mime type (the Content-Type without its parameters) must start with one of
    `text_mime_types`, lowercase prefixes; a compressed body (any Content-Encoding but identity)
    is binary whatever its type.
    """
    encoding = headers.get("content-encoding", ["identity"])[0].strip().lower()
    if encoding != "identity":
        return False
    content_type = headers.get("content-type", [""])[0]
    mime_type = content_type.partition(";")[0].strip().lower()
    prefixes = text_mime_types if isinstance(text_mime_types, tuple) else tuple(text_mime_types)
    # The prefixes are lowercase (the Adapter lowers them once): one startswith over them all.
    return bool(mime_type) and mime_type.startswith(prefixes)


def encode_body(
    body: bytes, headers: Mapping[str, list[str]], text_mime_types: Iterable[str]
) -> tuple[str, bool]:
    """(`body`, `isBase64Encoded`) for a Lambda response.

    Lambda's return value is JSON, so bytes go back base64-encoded and API Gateway or ALB
    decode them. Text goes back as a string only when it is valid UTF-8, so that the client
    receives the very bytes the app sent.
    """
    if not body:
        return "", False
    if is_text(headers, text_mime_types):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


class ProxyResponse(NamedTuple):  # not a dataclass: a tenth of the import time
    """An app's response ready for a proxy integration.

    `headers` maps lowercased names to their values in the order the app sent them, without
    the names in `config.exclude_headers`.
    """

    status_code: int
    headers: dict[str, list[str]]
    body: str
    is_base64_encoded: bool

    @classmethod
    def from_response(cls, response: HTTPResponse, config: AdapterConfig) -> ProxyResponse:
        """Group and filter the app's headers, then encode its body."""
        headers: dict[str, list[str]] = {}
        for raw_name, raw_value in response.headers:
            name = raw_name.decode("latin-1").lower()
            if name not in config.exclude_headers:
                headers.setdefault(name, []).append(raw_value.decode("latin-1"))
        body, is_base64_encoded = encode_body(response.body, headers, config.text_mime_types)
        return cls(response.status, headers, body, is_base64_encoded)

    @property
    def cookies(self) -> list[str]:
        """The Set-Cookie values, one per cookie."""
        return self.headers.get("set-cookie", [])

    def joined_headers(self) -> dict[str, str]:
        """One value per name, repeats joined by ", " (RFC 9110, section 5.3), without Set-Cookie.

        Set-Cookie is the one header that cannot be joined that way, since its values may
        contain commas (`Expires=Wed, 21 Oct ...`); each source returns it its own way.
        """
        return {name: ", ".join(values) for name, values in self.headers.items() if name != "set-cookie"}

    def fields(self) -> LambdaResponse:
        """The fields every proxy response has, before the source adds its headers."""
        return {
            "statusCode": self.status_code,
            "body": self.body,
            "isBase64Encoded": self.is_base64_encoded,
        }
