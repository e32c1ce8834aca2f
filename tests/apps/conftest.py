"""Litestar's documented apps are built here, at collection, with the root logger kept as it was:
building one configures the process's logging, which would take pytest's log capture away from
the test that builds it and change what later tests capture."""

from tests.apps.logging_kept import root_logging_kept

with root_logging_kept():
    from tests.apps import (  # noqa: F401 - imported for what building their apps does
        litestar_listener,
        litestar_listener_json,
        litestar_listener_sync,
        litestar_websocket,
    )
