"""The environment-configured handler the CDK construct points Lambda at."""

from __future__ import annotations

from pathlib import Path

import pytest

from asgiway import Adapter, ConfigurationError
from asgiway.entrypoint import adapter_from_environment
from asgiway.testing import http_event


def test_builds_the_adapter_from_variables(tmp_path: Path) -> None:
    adapter = adapter_from_environment(
        {
            "ASGIWAY_APP": "examples.chat.app:app",
            "DSN_URL": f"sqlite://{tmp_path / 'c.db'}",
            "ASGIWAY_WEBSOCKET_PATH": "/ws",
            "ASGIWAY_LIFESPAN": "off",
        }
    )
    assert adapter.config.websocket_path == "/ws"
    assert adapter.backend is not None
    reply = adapter(http_event("GET", "/"))
    assert reply["statusCode"] == 200
    assert "WebSocket Chat" in reply["body"]


def test_an_adapter_named_by_the_variable_is_used_as_it_is() -> None:
    adapter = adapter_from_environment({"ASGIWAY_APP": "examples.echo.app:handler"})
    from examples.echo.app import handler

    assert adapter is handler
    assert isinstance(adapter, Adapter)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "Set ASGIWAY_APP"),
        ({"ASGIWAY_APP": "nocolon"}, "must be written 'module:attribute'"),
        ({"ASGIWAY_APP": "no_such_module_here:app"}, "Cannot import module 'no_such_module_here'"),
        ({"ASGIWAY_APP": "examples.chat.app:nothing"}, "has no attribute 'nothing'"),
        ({"ASGIWAY_APP": "examples.chat.app:PAGE"}, "names a str, not an ASGI app"),
        ({"ASGIWAY_APP": "examples.chat.app:app", "DSN_URL": "mysql://x"}, "mysql"),
    ],
)
def test_bad_variables_say_what_to_fix(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        adapter_from_environment(environ)
