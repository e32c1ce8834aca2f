"""The Lambda entrypoint's security variables (issue 15): ASGIWAY_ALLOWED_ORIGINS and
ASGIWAY_STORED_CREDENTIALS reach the Adapter, and a value that cannot be read fails the cold start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter, ConfigurationError
from asgiway.credentials import NOT_STORED
from asgiway.entrypoint import adapter_from_environment
from asgiway.testing import LambdaContextStub, connect_event, message_event

REPOSITORY = Path(__file__).resolve().parents[2]
#: What the app saw of `?token=` at each event, in order.
TOKENS_SEEN: list[str | None] = []


async def accept_and_note_the_token(websocket: WebSocket) -> None:
    TOKENS_SEEN.append(websocket.query_params.get("token"))
    await websocket.accept()


#: An app that only accepts: no frame to deliver, so no @connections endpoint is needed.
ACCEPTING = Starlette(routes=[WebSocketRoute("/ws", accept_and_note_the_token)])


def adapter(tmp_path: Path, **variables: str) -> Adapter:
    return adapter_from_environment(
        {
            "ASGIWAY_APP": f"{__name__}:ACCEPTING",
            "ASGIWAY_WEBSOCKET_PATH": "/ws",
            "ASGIWAY_LIFESPAN": "off",
            "DSN_URL": f"sqlite://{tmp_path / 'connections.db'}",
            **variables,
        }
    )


def status_of(handler: Adapter, event: dict[str, Any]) -> int:
    status: int = handler(event, LambdaContextStub())["statusCode"]
    return status


def test_allowed_origins_come_from_their_variable(tmp_path: Path) -> None:
    assert adapter(tmp_path).config.allowed_origins is None  # unset: every origin
    handler = adapter(tmp_path, ASGIWAY_ALLOWED_ORIGINS=" https://Chat.Example.com/ , http://localhost:8000")
    assert handler.config.allowed_origins == frozenset({"https://chat.example.com", "http://localhost:8000"})
    assert status_of(handler, connect_event("a=", headers={"Origin": "https://chat.example.com"})) == 200
    assert status_of(handler, connect_event("b=", headers={"Origin": "https://evil.example"})) == 403
    assert status_of(handler, connect_event("c=")) == 200  # no Origin: no browser's handshake
    handler.close()


def test_an_empty_allowed_origins_lets_no_browser_in(tmp_path: Path) -> None:
    handler = adapter(tmp_path, ASGIWAY_ALLOWED_ORIGINS="")
    assert handler.config.allowed_origins == frozenset()
    assert status_of(handler, connect_event("a=", headers={"Origin": "https://chat.example.com"})) == 403
    assert status_of(handler, connect_event("b=")) == 200
    handler.close()


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "https://*.example.com",
        "chat.example.com",
        "https://chat.example.com/app",
        "https://chat.example.com/?x=1",
        "wss://chat.example.com",
        "https://a.example,,https://b.example",
        "https://a.example https://b.example",
    ],
)
def test_an_unreadable_origin_is_a_configuration_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"ASGIWAY_ALLOWED_ORIGINS: .* is no origin"):
        adapter(tmp_path, ASGIWAY_ALLOWED_ORIGINS=value)


def test_stored_credentials_come_from_their_variable(tmp_path: Path) -> None:
    assert adapter(tmp_path).config.stored_credentials == frozenset()
    assert adapter(tmp_path, ASGIWAY_STORED_CREDENTIALS=" ").config.stored_credentials == frozenset()
    kept = adapter(tmp_path, ASGIWAY_STORED_CREDENTIALS="token, Cookie,X-Amz-Signature")
    assert kept.config.stored_credentials == {"token", "cookie", "x-amz-signature"}
    kept.close()

    TOKENS_SEEN.clear()
    for variables, replayed in (({}, NOT_STORED), ({"ASGIWAY_STORED_CREDENTIALS": "token"}, "t0k3n")):
        handler = adapter(tmp_path, **variables)
        assert status_of(handler, connect_event("t=", query={"token": ["t0k3n"]})) == 200
        assert status_of(handler, message_event("t=", "hi")) == 200
        handler.close()
        assert TOKENS_SEEN[-2:] == ["t0k3n", replayed]


@pytest.mark.parametrize("value", ["tokne", "session", "token,,cookie", "authorization cookie"])
def test_a_name_no_credential_goes_by_is_a_configuration_error(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigurationError, match=r"ASGIWAY_STORED_CREDENTIALS: .* is no credential"):
        adapter(tmp_path, ASGIWAY_STORED_CREDENTIALS=value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("ASGIWAY_ALLOWED_ORIGINS", "https://chat.example.com/chat"), ("ASGIWAY_STORED_CREDENTIALS", "tokne")],
)
def test_a_bad_value_fails_the_cold_start_as_lambda_runs_it(variable: str, value: str) -> None:
    """Lambda reads the handler attribute during the container's init: that is where it fails."""
    environment = {
        **os.environ,
        "ASGIWAY_APP": "examples.chat.app:app",
        "ASGIWAY_LIFESPAN": "off",
        variable: value,
    }
    finished = subprocess.run(
        [sys.executable, "-c", "import asgiway.entrypoint as entrypoint; entrypoint.handler"],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 1
    assert f"asgiway.exceptions.ConfigurationError: {variable}: " in finished.stderr
