"""Resolve "module:attribute" strings, as uvicorn and Lambda handler settings spell them."""

from __future__ import annotations

import importlib
from typing import Any

from asgiway.exceptions import ConfigurationError


def import_from_string(target: str) -> Any:
    """The object `target` names, e.g. "examples.chat.app:app" or "pkg.mod:factory.attr"."""
    module_name, sep, attributes = target.partition(":")
    if not sep or not module_name or not attributes:
        raise ConfigurationError(f"{target!r} must be written 'module:attribute', e.g. 'app:app'")
    try:
        found: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name or module_name.startswith(f"{exc.name}."):
            raise ConfigurationError(f"Cannot import module {module_name!r} named by {target!r}") from exc
        raise
    for attribute in attributes.split("."):
        try:
            found = getattr(found, attribute)
        except AttributeError as exc:
            raise ConfigurationError(f"Module {module_name!r} has no attribute {attributes!r}") from exc
    return found
