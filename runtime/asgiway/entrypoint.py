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

`ASGIWAY_TWO_WAY_REPLIES` is `true` for `$default` alone, or the route keys that have a route
response separated by commas (`$default,sendmessage`).

The Adapter is built once, when Lambda first reads `handler` during the container's init.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, cast

from asgiway.adapter import DEFAULT_API_GATEWAY_TIMEOUT, Adapter
from asgiway.exceptions import ConfigurationError
from asgiway.importer import import_from_string
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


def __getattr__(name: str) -> Any:
    # Built on first access rather than at import, so importing this module never needs the variables.
    if name == "handler":
        handler = adapter_from_environment()
        globals()["handler"] = handler
        return handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
