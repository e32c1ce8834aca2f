"""Litestar configures the process's root logger when one of its apps is built (level INFO, a
handler of its own): in a test run that would change what every later test's log capture sees."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def root_logging_kept() -> Iterator[None]:
    """Within, build what may configure logging; after, the root logger is as it was."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
