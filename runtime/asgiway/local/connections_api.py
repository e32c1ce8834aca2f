"""The @connections API on the wire, as API Gateway answers it (shared by `asgiway dev` and the double).

POST 200, GET 200 with camelCase `connectedAt`/`identity`/`lastActiveAt` (botocore maps them to
ConnectedAt, Identity, LastActiveAt), DELETE 204; 410 with `x-amzn-ErrorType: GoneException`
for a connection that is gone, which botocore turns into GoneException; 413 over 128 KB.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import unquote

from asgiway.local.response import GatewayResponse, encode_headers
from asgiway.management_api import MAX_MESSAGE_BYTES

#: The error types API Gateway names for its statuses.
ERROR_TYPES = {
    403: "ForbiddenException",
    410: "GoneException",
    413: "PayloadTooLargeException",
    429: "LimitExceededException",
}

_PATH = re.compile(r"^(?:/(?P<stage>[^/@]+))?/@connections/(?P<id>[^/?]+)")


def connection_path(path: str) -> tuple[str | None, str] | None:
    """(stage or None, connection id) of an @connections path, with or without the stage prefix."""
    match = _PATH.match(path)
    if match is None:
        return None
    return match["stage"], unquote(match["id"])


OK = GatewayResponse(200, [], b"")
CLOSED = GatewayResponse(204, [], b"")


def gone(*, bare: bool = False) -> GatewayResponse:
    """410; `bare` leaves out the error type, as some proxies do (botocore then cannot name it)."""
    return GatewayResponse(410, [] if bare else encode_headers({"x-amzn-ErrorType": "GoneException"}), b"")


def error(status: int, message: str) -> GatewayResponse:
    error_type = ERROR_TYPES.get(status, "InternalServerError")
    return GatewayResponse.message(status, message, {"x-amzn-ErrorType": error_type})


def too_large(size: int) -> GatewayResponse | None:
    """413 for a frame over API Gateway's limit, None when it fits."""
    if size <= MAX_MESSAGE_BYTES:
        return None
    return error(413, f"Message of {size} bytes is over the {MAX_MESSAGE_BYTES}-byte limit")


def description(
    connected_at_ms: int, last_active_ms: int, source_ip: str, user_agent: str | None
) -> GatewayResponse:
    body = {
        "connectedAt": iso_time(connected_at_ms),
        "identity": {"sourceIp": source_ip, "userAgent": user_agent},
        "lastActiveAt": iso_time(last_active_ms),
    }
    return GatewayResponse(200, [(b"content-type", b"application/json")], json.dumps(body).encode())


def iso_time(epoch_ms: int) -> str:
    """`2024-11-11T11:35:24.553Z`, the form API Gateway's timestamps take."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"
