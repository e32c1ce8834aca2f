"""Turn "module:attribute" into a Lambda handler: an Adapter or handler as deployed, or an ASGI app.

An ASGI app is wrapped in an Adapter, as `asgiway.entrypoint` does on Lambda. Its WebSocket path,
when not given, is found from the app's routes where there is exactly one WebSocket route.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asgiway.adapter import Adapter
from asgiway.exceptions import ConfigurationError
from asgiway.importer import import_from_string

Handler = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class AppOptions:
    """How an ASGI app is wrapped; a ready handler ignores them, having been configured by its author."""

    dsn: str | None = None
    websocket_path: str | None = None
    two_way_replies: bool = False


def is_asgi_app(candidate: Any) -> bool:
    """ASGI apps are awaited: an async function, or an object whose __call__ is one."""
    call = candidate if inspect.isfunction(candidate) else getattr(candidate, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(call)


def websocket_path_of(app: Any) -> str | None:
    """The path of the app's only WebSocket route (Starlette, FastAPI), if it has exactly one."""
    try:
        from starlette.routing import WebSocketRoute
    except ImportError:
        return None
    paths = [route.path for route in getattr(app, "routes", ()) if isinstance(route, WebSocketRoute)]
    return paths[0] if len(paths) == 1 and "{" not in paths[0] else None


def load_handler(target: str, options: AppOptions) -> tuple[Handler, str]:
    """The handler `target` names, and one line saying what it is and how it is served."""
    found = import_from_string(target)
    if isinstance(found, Adapter) or (callable(found) and not is_asgi_app(found)):
        return found, f"{target} (a Lambda handler, served as deployed)"
    if not is_asgi_app(found):
        raise ConfigurationError(f"{target!r} names a {type(found).__name__}, not an ASGI app or a handler")
    path = options.websocket_path or websocket_path_of(found) or "/"
    adapter = Adapter(found, dsn=options.dsn, websocket_path=path, two_way_replies=options.two_way_replies)
    return adapter, f"{target} (an ASGI app in an Adapter, WebSocket route {path})"
