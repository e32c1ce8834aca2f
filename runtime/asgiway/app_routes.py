"""The WebSocket routes an app's router declares, to help set `websocket_path`.

API Gateway's WebSocket events carry no path, so the Adapter gives every event the one path it was
told (`websocket_path`). When that path matches no route, a router closes the handshake without
reading it and every CONNECT is refused: the messages that say so name the routes the app does
have. Starlette, FastAPI and the apps built on them keep their routes in `routes`; mounted
sub-apps and middleware wrappers (whose `app` is the next app inside) are followed.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

#: How deep wrappers and mounts are followed: far more than any real app nests.
_MAX_DEPTH = 16


def _routes_of(app: Any) -> list[Any] | None:
    """The app's `routes`, through middleware wrappers; None when there are none to read."""
    candidate = app
    for _ in range(_MAX_DEPTH):
        routes = getattr(candidate, "routes", None)
        if isinstance(routes, list):
            return routes
        candidate = getattr(candidate, "app", None)  # a middleware around the app
        if candidate is None:
            return None
    return None


def websocket_route_paths(app: Any) -> list[str] | None:
    """The paths of the app's WebSocket routes, mounts included ("/items/{item_id}/ws" as written);
    None when the app has no Starlette-style routes to read."""
    try:
        from starlette.routing import Mount, WebSocketRoute
    except ImportError:
        return None
    found: list[str] = []

    def collect(routes: list[Any], prefix: str, depth: int) -> None:
        for route in routes:
            if isinstance(route, WebSocketRoute):
                found.append(prefix + route.path)
            elif isinstance(route, Mount) and depth < _MAX_DEPTH:
                collect(_routes_of(route.app) or [], prefix + route.path, depth + 1)

    routes = _routes_of(app)
    if routes is None:
        return None
    collect(routes, "", 0)
    return found


def routes_match(app: Any, scope: MutableMapping[str, Any]) -> bool | None:
    """Whether a route of the app's router matches the WebSocket `scope`; None when the app's
    routes cannot be read (then only the app itself knows)."""
    try:
        from starlette.routing import Match
    except ImportError:
        return None
    routes = _routes_of(app)
    if routes is None:
        return None
    return any(route.matches(scope)[0] is Match.FULL for route in routes)


def describe_routes(app: Any) -> str:
    """ "the app's WebSocket routes are /ws, /chat" or why none can be named, for a message."""
    paths = websocket_route_paths(app)
    if paths is None:
        return "the app's routes cannot be read (not a Starlette-style app)"
    if not paths:
        return "the app declares no WebSocket route"
    return f"the app's WebSocket routes are {', '.join(paths)}"
