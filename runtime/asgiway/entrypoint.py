"""A Lambda handler configured by environment variables, so an app module needs no handler line.

Point Lambda's handler setting at `asgiway.entrypoint.handler` and set:

| variable                        | meaning                                      | default  |
|---------------------------------|----------------------------------------------|----------|
| `ASGIWAY_APP`                   | the ASGI app (or an Adapter), "module:attr" | required |
| `DSN_URL`                       | the connection store, e.g. `dynamodb://chat` | none     |
| `ASGIWAY_WEBSOCKET_PATH`        | where the app mounts its WebSocket route     | `/`      |
| `ASGIWAY_LIFESPAN`              | `auto`, `on` or `off`                        | `auto`   |
| `ASGIWAY_API_GATEWAY_BASE_PATH` | a base path to strip from HTTP paths         | `/`      |
| `ASGIWAY_TWO_WAY_REPLIES`       | routes with a route response: `true`, or keys | `false`  |
| `ASGIWAY_API_GATEWAY_TIMEOUT`   | API Gateway's integration timeout, seconds   | `29`     |
| `DSN_PASSWORD_SECRET_ARN`       | a Secrets Manager secret with DSN_URL's password | none |
| `ASGIWAY_ALLOWED_ORIGINS`       | browser origins allowed to CONNECT, by commas | any      |
| `ASGIWAY_STORED_CREDENTIALS`    | credentials the store keeps, by commas       | none     |

`ASGIWAY_TWO_WAY_REPLIES` is `true` for `$default` alone, or the route keys that have a route
response separated by commas (`$default,sendmessage`).

`ASGIWAY_ALLOWED_ORIGINS` lists origins as browsers send them, `scheme://host[:port]` without a
path (`https://chat.example.com,http://localhost:8000`): a CONNECT whose `Origin` is another is
refused with 403 before the app runs (asgiway.origins). Unset, every origin is allowed; set and
empty, no browser is (clients that send no `Origin` always pass, for the app to check).

`ASGIWAY_STORED_CREDENTIALS` names the credential headers (`authorization`, `cookie`, ...) and
query parameters (`token`, ...) whose values the store keeps, for an app that checks them again at
every event (asgiway.credentials); unset or empty, the store keeps none.

A value that cannot be read fails the cold start with a ConfigurationError naming the variable,
rather than serving with a check other than the one meant.

The Adapter is built once, when Lambda first reads `handler` during the container's init.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, cast

from asgiway.adapter import DEFAULT_API_GATEWAY_TIMEOUT, Adapter
from asgiway.credentials import (
    CREDENTIAL_HEADERS,
    CREDENTIAL_PARAMETER_PREFIXES,
    CREDENTIAL_PARAMETERS,
    is_credential_parameter,
)
from asgiway.exceptions import ConfigurationError
from asgiway.importer import import_from_string
from asgiway.origins import normalized_origin
from asgiway.secrets import password_from_secret, with_password
from asgiway.types import LifespanMode


def adapter_from_environment(environ: Mapping[str, str] = os.environ) -> Adapter:
    """The Adapter the variables above describe."""
    target = environ.get("ASGIWAY_APP")
    if not target:
        raise ConfigurationError("Set ASGIWAY_APP to the app to serve, e.g. ASGIWAY_APP=app:app")
    found = import_from_string(target)
    if isinstance(found, Adapter):
        return found
    if not callable(found):
        raise ConfigurationError(f"ASGIWAY_APP={target!r} names a {type(found).__name__}, not an ASGI app")
    dsn = environ.get("DSN_URL") or None
    secret = environ.get("DSN_PASSWORD_SECRET_ARN")
    if dsn and secret:
        dsn = with_password(dsn, password_from_secret(secret))
    return Adapter(
        found,
        dsn=dsn,
        websocket_path=environ.get("ASGIWAY_WEBSOCKET_PATH", "/"),
        lifespan=cast(LifespanMode, environ.get("ASGIWAY_LIFESPAN", "auto")),
        api_gateway_base_path=environ.get("ASGIWAY_API_GATEWAY_BASE_PATH", "/"),
        two_way_replies=_two_way_replies(environ.get("ASGIWAY_TWO_WAY_REPLIES", "false")),
        api_gateway_timeout=_seconds(environ, "ASGIWAY_API_GATEWAY_TIMEOUT", DEFAULT_API_GATEWAY_TIMEOUT),
        allowed_origins=_allowed_origins(environ.get("ASGIWAY_ALLOWED_ORIGINS")),
        stored_credentials=parse_stored_credentials(environ.get("ASGIWAY_STORED_CREDENTIALS", "")),
    )


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    value = environ.get(name, "").strip()
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}") from None


def _two_way_replies(value: str) -> bool | list[str]:
    """`true`/`1` ($default), `false`/`0`/empty (none), or comma-separated route keys."""
    if value.strip().lower() in ("true", "1", "false", "0", ""):
        return value.strip().lower() in ("true", "1")
    keys = [key.strip() for key in value.split(",")]
    if not all(key and not any(char.isspace() for char in key) for key in keys):
        raise ConfigurationError(
            "ASGIWAY_TWO_WAY_REPLIES must be true, false, or route keys separated by commas "
            f"(e.g. $default,sendmessage), got {value!r}"
        )
    return keys


def _allowed_origins(value: str | None) -> list[str] | None:
    """ASGIWAY_ALLOWED_ORIGINS: None (unset: any origin), or the comma-separated origins, each as a
    browser sends it."""
    if value is None:
        return None
    if not value.strip():
        return []
    origins = [origin.strip() for origin in value.split(",")]
    for origin in origins:
        # Origins are compared whole: a wildcard would match no browser's, and refuse them all.
        if "*" in origin or normalized_origin(origin) is None:
            raise ConfigurationError(
                f"ASGIWAY_ALLOWED_ORIGINS: {origin!r} is no origin; list origins as browsers send them, "
                "scheme://host[:port] without a path or wildcard, separated by commas (e.g. "
                "https://chat.example.com,http://localhost:8000), or unset it to allow any origin; "
                f"got {value!r}"
            )
    return origins


def parse_stored_credentials(value: str) -> list[str]:
    """ASGIWAY_STORED_CREDENTIALS: the comma-separated credential names to store, each one the store
    would otherwise withhold. The CDK construct checks its prop with this too."""
    if not value.strip():
        return []
    names = [name.strip() for name in value.split(",")]
    for name in names:
        # A name asgiway never withholds would change nothing: most likely a typo of one it does.
        if name.lower() not in CREDENTIAL_HEADERS and not is_credential_parameter(name):
            raise ConfigurationError(
                f"ASGIWAY_STORED_CREDENTIALS: {name!r} is no credential the store withholds; name "
                f"{_withheld_names()}, separated by commas; got {value!r}"
            )
    return names


def _withheld_names() -> str:
    parameters = [*sorted(CREDENTIAL_PARAMETERS), *(f"{prefix}*" for prefix in CREDENTIAL_PARAMETER_PREFIXES)]
    return f"headers ({', '.join(sorted(CREDENTIAL_HEADERS))}) or query parameters ({', '.join(parameters)})"


def __getattr__(name: str) -> Any:
    # Built on first access rather than at import, so importing this module never needs the variables.
    if name == "handler":
        handler = adapter_from_environment()
        globals()["handler"] = handler
        return handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
