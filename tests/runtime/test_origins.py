"""`Adapter(allowed_origins=...)`: a browser's CONNECT from another site is refused before the app runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter, ConfigurationError
from asgiway.testing import LambdaContextStub, connect_event

#: The Origin of every CONNECT the app itself ran for.
ORIGINS_SEEN: list[str | None] = []


async def accept(websocket: WebSocket) -> None:
    ORIGINS_SEEN.append(websocket.headers.get("origin"))
    await websocket.accept()


APP = Starlette(routes=[WebSocketRoute("/ws", accept)])


def test_another_sites_page_is_refused_before_the_app_runs(tmp_path: Path) -> None:
    ORIGINS_SEEN.clear()
    handler = Adapter(
        APP,
        dsn=f"sqlite://{tmp_path / 'c.db'}",
        websocket_path="/ws",
        lifespan="off",
        allowed_origins=["https://Chat.Example.com/"],
    )
    context = LambdaContextStub()
    refused = handler(connect_event("a=", headers={"Origin": "https://evil.example"}), context)
    assert refused["statusCode"] == 403
    assert (
        handler(connect_event("b=", headers={"Origin": "https://chat.example.com"}), context)["statusCode"]
        == 200
    )
    assert handler(connect_event("c="), context)["statusCode"] == 200  # no Origin: not a browser
    assert ORIGINS_SEEN == ["https://chat.example.com", None]
    assert handler.backend is not None
    assert handler.backend.load("a=") is None
    handler.close()


@pytest.mark.parametrize("origins", ["https://chat.example.com", ["https://*.example.com"], ["chat.example"]])
def test_an_origin_no_browser_sends_is_a_configuration_error(origins: object) -> None:
    with pytest.raises(ConfigurationError, match="allowed_origins"):
        Adapter(APP, allowed_origins=origins)  # type: ignore[arg-type]
