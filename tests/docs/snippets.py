"""The guides' code: each snippet under docs/snippets is a file, loaded here as a fresh module.

A fresh module per load, because the snippets build their handler at import from the environment
(DSN_URL, as the CDK construct sets it), which each test sets first.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

from asgiway.backends import Backend, Dsn

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "docs" / "snippets"


def load_snippet(name: str) -> ModuleType:
    """docs/snippets/`name`.py, executed anew (and registered, as dataclasses and FastAPI need)."""
    path = SNIPPETS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"docs_snippet_{name}", path)
    if spec is None or spec.loader is None:
        raise LookupError(f"no snippet {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@cache
def own_store() -> type[Backend]:
    """The stores guide's backend class, loaded once, so that every instance built from one token
    shares its data as the conformance tests require."""
    backend: type[Backend] = load_snippet("own_store").MemoryBackend
    return backend


def memory_store(tmp_path: Path, token: str, request: pytest.FixtureRequest) -> Backend:
    """The guide's store as tests/backends/test_conformance.py builds its cases."""
    return own_store().from_dsn(Dsn.parse(f"memory://{token}"))
