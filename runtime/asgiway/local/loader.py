"""Turn "module:attribute" into a Lambda handler: an Adapter or handler as deployed, or an ASGI app.

An ASGI app is wrapped in an Adapter, as `asgiway.entrypoint` does on Lambda. Its WebSocket path,
when not given, is its only WebSocket route, or "/" for an app whose routes cannot be read or that
has none; with several routes, or one with path parameters, there is no path to guess, and loading
stops with an error that lists them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from asgiway.adapter import Adapter
from asgiway.app_routes import describe_routes, websocket_route_paths
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


def default_websocket_path(app: Any) -> str:
    """The path every WebSocket event gets when none is given (see the module docstring)."""
    paths = websocket_route_paths(app)
    if not paths:
        return "/"
    if len(paths) == 1 and "{" not in paths[0]:
        return paths[0]
    raise ConfigurationError(
        f"{describe_routes(app)}; API Gateway's WebSocket events carry no path, so name the one they "
        "reach with --websocket-path (a route with parameters needs their values, e.g. "
        "--websocket-path /items/42/ws)"
    )


def load_handler(target: str, options: AppOptions) -> tuple[Handler, str]:
    """The handler `target` names, and one line saying what it is and how it is served."""
    found = import_from_string(target)
    if inspect.isclass(found):  # calling a class makes an instance, never a response
        raise ConfigurationError(f"{target!r} names the class {found.__name__}, not an app made from it")
    if isinstance(found, Adapter) or (callable(found) and not is_asgi_app(found)):
        return found, f"{target} (a Lambda handler, served as deployed)"
    if not is_asgi_app(found):
        raise ConfigurationError(f"{target!r} names a {type(found).__name__}, not an ASGI app or a handler")
    path = options.websocket_path or default_websocket_path(found)
    adapter = Adapter(found, dsn=options.dsn, websocket_path=path, two_way_replies=options.two_way_replies)
    return adapter, f"{target} (an ASGI app in an Adapter, WebSocket route {path})"
