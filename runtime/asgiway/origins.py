"""Browser origins allowed to open a WebSocket: the defence against cross-site WebSocket hijacking.

A browser lets any page open a WebSocket to any host, and sends that page's origin in the
handshake's `Origin` header (which the page cannot forge). An app that trusts cookies or other
ambient credentials at CONNECT must therefore check it, or another site can act as its users. The
Adapter's `allowed_origins` does so before the app runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from asgiway.exceptions import ConfigurationError


def origins(allowed_origins: Iterable[str]) -> frozenset[str]:
    """The `allowed_origins` option, each checked and normalized as browsers send Origin:
    `scheme://host[:port]`, lowercase, with no path."""
    if isinstance(allowed_origins, str):
        raise ConfigurationError(f"allowed_origins takes a list of origins, e.g. [{allowed_origins!r}]")
    normalized = set()
    for origin in allowed_origins:
        candidate = normalized_origin(origin) if isinstance(origin, str) else None
        if candidate is None:
            raise ConfigurationError(
                f"allowed_origins: {origin!r} is no origin; write it as a browser sends it, "
                "scheme://host[:port], e.g. 'https://chat.example.com'"
            )
        normalized.add(candidate)
    return frozenset(normalized)


def normalized_origin(origin: str) -> str | None:
    """`origin` lowercased without a trailing slash, or None when it is not scheme://host[:port]."""
    text = origin.strip().lower().rstrip("/")
    try:
        parts = urlsplit(text)
        _ = parts.port  # ValueError for a port out of range or not a number
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        return None
    if "*" in parts.hostname:  # browsers send the page's own host: a pattern would never match
        return None
    return text
