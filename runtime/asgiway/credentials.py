"""Credentials in a WebSocket handshake: kept out of the store, unless the app asks to keep them.

The CONNECT request is stored with the connection so that every later event can rebuild its
scope. Its credentials (an `Authorization` header, cookies, a `?token=` in the query string) would
then lie in clear in the store for the connection's whole life, and in whatever backups the store
keeps (DynamoDB's point-in-time recovery keeps 35 days). So the stored handshake holds
`NOT_STORED` in their place: the real CONNECT's app sees the values, the replayed handshakes of
later events see the marker. Names stay, so a check for presence still passes: a cookie keeps its
name (`session=asgiway:not-stored`), an `Authorization` header its scheme (`Bearer
asgiway:not-stored`), a query parameter its key.

The pattern API Gateway recommends needs no stored credential: check it at `$connect` (in the app
or an authorizer) and keep the identity it proves, in `websocket.state` or the authorizer's
context. An app that must check a credential again at every event names it in `stored_credentials`
and accepts that it is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode

#: What replayed handshakes see in place of a credential that was not stored.
NOT_STORED = "asgiway:not-stored"
#: Headers that carry credentials (lowercase).
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
#: Query parameters whose names mark them as credentials (compared lowercased).
CREDENTIAL_PARAMETERS = frozenset(
    {"token", "access_token", "api_key", "apikey", "password", "secret", "signature"}
)
#: And those of presigned AWS URLs (X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token, ...).
CREDENTIAL_PARAMETER_PREFIXES = ("x-amz-",)


def kept_names(stored_credentials: Iterable[str]) -> frozenset[str]:
    """The `stored_credentials` option as the lowercased names it keeps."""
    return frozenset(name.strip().lower() for name in stored_credentials if name.strip())


def is_credential_parameter(name: str) -> bool:
    lowered = name.lower()
    return lowered in CREDENTIAL_PARAMETERS or lowered.startswith(CREDENTIAL_PARAMETER_PREFIXES)


def without_credentials(stored: dict[str, Any], keep: frozenset[str]) -> dict[str, Any]:
    """A copy of the stored handshake with each credential's value replaced by NOT_STORED, but
    those whose (lowercased) name is in `keep`."""
    headers = [
        [name, _header_without_credentials(name.lower(), value)]
        if name.lower() in CREDENTIAL_HEADERS and name.lower() not in keep
        else [name, value]
        for name, value in stored["headers"]
    ]
    pairs = parse_qsl(stored["query_string"], keep_blank_values=True)
    query = [
        (name, NOT_STORED if is_credential_parameter(name) and name.lower() not in keep else value)
        for name, value in pairs
    ]
    return {**stored, "headers": headers, "query_string": urlencode(query)}


def _header_without_credentials(name: str, value: str) -> str:
    if name == "cookie":
        cookies = (cookie.strip().partition("=")[0] for cookie in value.split(";"))
        return "; ".join(f"{cookie}={NOT_STORED}" for cookie in cookies if cookie)
    scheme, space, _ = value.strip().partition(" ")
    if name in ("authorization", "proxy-authorization") and space:
        return f"{scheme} {NOT_STORED}"
    return NOT_STORED
