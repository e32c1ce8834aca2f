"""Route selection as API Gateway's WebSocket APIs do it: a route key picked from each message's body.

API Gateway evaluates the API's route selection expression, `$request.body.{path}` (also written
`${request.body.{path}}`), against a message that is JSON, and uses the route whose key equals the
value. A message that is not JSON, lacks the value, or names no route goes to `$default`; with no
`$default` route either, the client gets an error frame and nothing is invoked. See
https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-api-develop-routes.html
("Route selection expressions"), which also says the value found is stringified.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

DEFAULT_ROUTE = "$default"
#: The route keys API Gateway defines itself; `--route` takes the others.
PREDEFINED_ROUTES = frozenset({"$connect", "$disconnect", DEFAULT_ROUTE})
#: The construct's default, and the one AWS's sample chat uses.
DEFAULT_SELECTION_EXPRESSION = "$request.body.action"
_EXPRESSION = re.compile(r"^(?:\$request\.body\.(?P<bare>[^{}$]+)|\$\{request\.body\.(?P<braced>[^{}$]+)\})$")
_SEGMENT = re.compile(r"^[^.\s]+$")


def body_path(expression: str) -> tuple[str, ...]:
    """The JSON path a selection expression reads, e.g. `$request.body.data.kind` → ("data", "kind").

    ValueError for anything else: a WebSocket API only selects routes from the message body.
    """
    found = _EXPRESSION.match(expression)
    path = found and (found["bare"] or found["braced"])
    segments = tuple(path.split(".")) if path else ()
    if not segments or not all(_SEGMENT.match(segment) for segment in segments):
        raise ValueError(
            f"{expression!r} is not a route selection expression of the form $request.body.PATH "
            "(for example $request.body.action or $request.body.message.type)"
        )
    return segments


def selected_value(path: tuple[str, ...], body: str) -> str | None:
    """What the expression evaluates to for `body`, stringified; None when there is nothing to match."""
    try:
        found: Any = json.loads(body)
    except ValueError:
        return None
    for key in path:
        if not isinstance(found, dict) or key not in found:
            return None
        found = found[key]
    if isinstance(found, str):
        return found
    if isinstance(found, bool | int | float):
        # Stringified, as the documentation says: `{"action": 42}` selects a route "42".
        return json.dumps(found)
    # null, arrays and objects: no route key takes their text form, so they reach $default.
    return None


@dataclass(frozen=True)
class RouteSelection:
    """The route a message reached, or None for no route at all; `value` for the log."""

    route: str | None
    value: str | None


@dataclass(frozen=True)
class RouteTable:
    """The WebSocket API's message routes: custom keys, and whether `$default` exists."""

    selection_expression: str = DEFAULT_SELECTION_EXPRESSION
    keys: frozenset[str] = frozenset()
    has_default: bool = True

    def __post_init__(self) -> None:
        body_path(self.selection_expression)  # refuse a bad expression when the API is defined
        predefined = sorted(self.keys & PREDEFINED_ROUTES)
        if predefined:
            raise ValueError(
                f"{', '.join(predefined)} cannot be given as a route: $connect and $disconnect always "
                "exist, and $default does unless --no-default-route"
            )

    def select(self, body: str | bytes) -> RouteSelection:
        """The route of one message; a binary frame is never JSON to API Gateway, so it gets `$default`."""
        value = selected_value(body_path(self.selection_expression), body) if isinstance(body, str) else None
        if value is not None and value in self.keys:
            return RouteSelection(value, value)
        return RouteSelection(DEFAULT_ROUTE if self.has_default else None, value)
