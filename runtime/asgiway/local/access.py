"""Who may use the emulator: a Host check on every request, and on @connections and the Invoke API,
the run's signature and no browser.

Those two endpoints serve the function's own instances, which sign with the run's credentials (see
`asgiway.local.sigv4`); a web page cannot sign, and a browser marks every cross-origin request with
`Origin`, which boto3 never sends. The Host check defeats DNS rebinding: a page of the attacker's
domain, re-resolved to this machine, still sends its own name as Host.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from datetime import UTC, datetime

from asgiway.local.response import GatewayResponse
from asgiway.local.sigv4 import RunCredentials, SignatureError, SignedRequest, check_signature
from asgiway.sources.common import header_value
from asgiway.types import Scope

logger = logging.getLogger("asgiway.local")

#: The signing names of the two endpoints, as botocore signs for them.
CONNECTIONS_SERVICE = "execute-api"
INVOKE_SERVICE = "lambda"
#: Binding to these listens on every interface of the machine.
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})  # noqa: S104 - recognised here, not bound

# 421 Misdirected Request (RFC 9110, section 15.5.20) says the server is not authoritative for the
# host the request names, which is exactly the case; 403 would suggest a missing permission.
MISDIRECTED = GatewayResponse.message(421, "Misdirected Request: this server does not serve that host")
#: A Host header: a name or a bracketed IPv6 address, then perhaps a port; anything else is served nowhere.
_HOST_HEADER = re.compile(r"(?:\[(?P<ipv6>[0-9a-f:.]+)\]|(?P<name>[^:\[\]]+))(?::\d{1,5})?")


def host_name(header: str) -> str:
    """The host part of a Host header, lowercase, without port or IPv6 brackets; "" when malformed."""
    found = _HOST_HEADER.fullmatch(header.strip().lower())
    if found is None:
        return ""
    return found["ipv6"] or found["name"]


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or address, as `--host` takes it) is this machine's loopback."""
    name = _bound_name(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class EndpointGuard:
    """The checks, for one run: its credentials and the host it was told to listen on."""

    def __init__(self, credentials: RunCredentials, bound_host: str) -> None:
        self._credentials = credentials
        self._bound_host = _bound_name(bound_host)
        self._wildcard = self._bound_host in WILDCARD_HOSTS

    def misdirected(self, scope: Scope) -> GatewayResponse | None:
        """421 for a request whose Host is neither loopback nor the host listened on, else None."""
        host = header_value(scope["headers"], b"host")
        if host is not None and self._serves(host_name(host)):
            return None
        logger.warning("Refused %s: Host %s is not served here", _request_line(scope), _shown(host))
        return MISDIRECTED

    def refusal(self, scope: Scope, service: str, body: bytes) -> GatewayResponse | None:
        """403 for a request to @connections or the Invoke API not made by the function, else None."""
        origin = header_value(scope["headers"], b"origin")
        if origin is not None:
            reason = f"a browser's request (Origin {_shown(origin)})"
        else:
            request = SignedRequest(
                method=scope["method"],
                raw_path=(scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
                query_string=scope["query_string"].decode("latin-1"),
                headers=scope["headers"],
                body=body,
            )
            try:
                check_signature(request, self._credentials, service, datetime.now(UTC))
            except SignatureError as exc:
                reason = str(exc)
            else:
                return None
        # The reason says what failed, never a header's value: the Authorization header stays out.
        logger.warning("Refused %s: %s", _request_line(scope), reason)
        return GatewayResponse.message(
            403, f"Forbidden: {reason}", {"x-amzn-ErrorType": "AccessDeniedException"}
        )

    def _serves(self, host: str) -> bool:
        if not host:
            return False  # missing or malformed
        if host in ("localhost", self._bound_host):
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False  # a name: only the ones above, as a rebinding attack brings its own
        # Listening on every interface, the machine is reached through any of its addresses. An
        # address, unlike a name, cannot be made to point here by someone else's DNS.
        return address.is_loopback or self._wildcard


def _bound_name(host: str) -> str:
    """`--host` as Host headers name it: lowercase, an IPv6 address without brackets."""
    return host.strip("[]").lower()


def _request_line(scope: Scope) -> str:
    method = scope.get("method", "WebSocket")
    client = (scope.get("client") or ("?", 0))[0]
    return f"{method} {_shown(scope['path'])} from {client}"


def _shown(text: str | None) -> str:
    """Text from the request, made safe for a terminal: escaped, and cut short."""
    if text is None:
        return "(none)"
    return ascii(text[:100])
