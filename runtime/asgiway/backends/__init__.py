"""Connection stores, picked by the dsn's scheme: `from_dsn("sqlite:///tmp/chat.db")`.

The scheme -> backend table is open. A backend class names its schemes in `Backend.schemes` and
becomes available in one of three ways, looked up in this order:

1. `register_backend(MyBackend)` (or `@register_backend` on the class), at import time;
2. the built-in table below, imported only when its scheme is first asked for, so that
   `import asgiway` never imports a database driver;
3. an entry point in the "asgiway.backends" group named after the scheme, for backends shipped
   in their own distribution: `mongodb = "asgiway_mongodb:MongoBackend"`. Entry points are read
   only when a scheme is found nowhere else.

A backend written before connections could end (`ConnectionRecord.ended`, `Backend.end`) keeps
working: it inherits `Backend.end`, built from its own `load`, `rooms`, `update` and `leave`, which
is right as long as it stores `ended` with the record (`ConnectionRecord.document()` does) and
its `members` and `connections` leave out records whose `ended` is set (see `Backend.end`).
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, TypeVar

from asgiway.backends.base import Backend, ConnectionRecord
from asgiway.backends.dsn import KNOWN_SCHEMES, Dsn, did_you_mean
from asgiway.exceptions import ConfigurationError

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["Backend", "ConnectionRecord", "Dsn", "from_dsn", "register_backend"]

ENTRY_POINT_GROUP = "asgiway.backends"

#: The backends asgiway ships, as "module:Class", imported on first use.
_BUILTIN_BACKENDS = {
    "sqlite": "asgiway.backends.sqlite:SQLiteBackend",
    "postgresql": "asgiway.backends.postgresql:PostgreSQLBackend",
    "postgres": "asgiway.backends.postgresql:PostgreSQLBackend",
    "redis": "asgiway.backends.redis:RedisBackend",
    "rediss": "asgiway.backends.redis:RedisBackend",
    "dynamodb": "asgiway.backends.dynamodb:DynamoDBBackend",
    "s3": "asgiway.backends.s3:S3Backend",
}

AnyBackend = TypeVar("AnyBackend", bound=Backend)

_registry: dict[str, type[Backend]] = {}
_registry_lock = threading.Lock()


def register_backend(cls: type[AnyBackend]) -> type[AnyBackend]:
    """Make `cls` the backend of each scheme in `cls.schemes`; returns `cls`, so it decorates.

    A later registration of the same scheme replaces the earlier one, built-ins included.
    """
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise ConfigurationError(f"{cls!r} is not a subclass of asgiway.backends.Backend")
    schemes = getattr(cls, "schemes", ())
    if not (isinstance(schemes, tuple) and schemes and all(isinstance(s, str) for s in schemes)):
        raise ConfigurationError(
            f"{cls.__qualname__}.schemes must be a non-empty tuple of dsn schemes, e.g. ('redis',)"
        )
    with _registry_lock:
        for scheme in schemes:
            _registry[scheme.lower()] = cls
    return cls


def from_dsn(dsn: str) -> Backend:
    """The backend the dsn names, built but not yet connected (it connects on first use)."""
    parsed = Dsn.parse(dsn)
    return _backend_class(parsed.scheme, parsed).from_dsn(parsed)


def _backend_class(scheme: str, dsn: Dsn | None = None) -> type[Backend]:
    """The backend class registered for `scheme`; `dsn`, if given, is named in errors."""
    scheme = scheme.lower()
    with _registry_lock:
        found = _registry.get(scheme)
    if found is not None:
        return found
    if scheme in _BUILTIN_BACKENDS:
        return _register_loaded(scheme, _import(_BUILTIN_BACKENDS[scheme]), _BUILTIN_BACKENDS[scheme])
    candidates = {point.value: point for point in _entry_points() if point.name == scheme}
    if len(candidates) > 1:
        raise ConfigurationError(
            f"several installed packages provide a backend for scheme {scheme!r}"
            f" ({', '.join(sorted(candidates))}); register the one to use with register_backend"
        )
    if candidates:
        point = next(iter(candidates.values()))
        try:
            loaded = point.load()
        except Exception as exc:  # a third party's import can fail in any way
            raise ConfigurationError(
                f"the backend for scheme {scheme!r} ({point.value}) failed to import: {exc}"
            ) from exc
        return _register_loaded(scheme, loaded, point.value)
    where = f"dsn {str(dsn)!r}: " if dsn is not None else ""
    installed = _available_schemes()
    suggestion = did_you_mean(scheme, sorted({*installed, *KNOWN_SCHEMES}))
    raise ConfigurationError(
        f"{where}no backend is installed for scheme {scheme!r}{suggestion}"
        f" (installed: {', '.join(installed)}); a backend"
        f" is added with asgiway.backends.register_backend or an entry point in the"
        f" {ENTRY_POINT_GROUP!r} group"
    )


def _available_schemes() -> list[str]:
    """Every scheme a backend is registered, built in or advertised for, sorted."""
    with _registry_lock:
        registered = set(_registry)
    advertised = {point.name for point in _entry_points()}
    return sorted(registered | set(_BUILTIN_BACKENDS) | advertised)


def _entry_points() -> tuple[EntryPoint, ...]:
    # Imported here: importlib.metadata costs a cold start ~6 ms, and only third-party schemes need it.
    from importlib.metadata import entry_points

    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def _import(target: str) -> object:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def _register_loaded(scheme: str, loaded: object, origin: str) -> type[Backend]:
    if not (isinstance(loaded, type) and issubclass(loaded, Backend)):
        raise ConfigurationError(f"{origin}, the backend for scheme {scheme!r}, is not a subclass of Backend")
    schemes = getattr(loaded, "schemes", ())
    if scheme not in (s.lower() for s in schemes):
        raise ConfigurationError(
            f"{origin} is registered for scheme {scheme!r} but its schemes are {schemes!r}"
        )
    return register_backend(loaded)
