"""A test of the FastAPI example, written as you would write one for your own app: run it with pytest."""

from pathlib import Path

from examples.fastapi_app.app import app

from asgiway import Adapter
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    http_event,
    message_event,
)


def test_every_client_hears_a_message(tmp_path: Path) -> None:
    # A real HTTP server on 127.0.0.1 that plays @connections and records every call.
    with ConnectionsApiDouble() as connections_api:
        handler = Adapter(
            app,
            dsn=f"sqlite://{tmp_path / 'connections.db'}",
            websocket_path="/ws",
            api_gateway_endpoint_url=connections_api.endpoint_url,
        )
        context = LambdaContextStub()  # counts down like Lambda's
        assert handler(http_event("GET", "/hello/ada"), context)["body"] == '{"hello":"ada"}'

        for client in ("ada=", "bob="):
            assert handler(connect_event(client), context)["statusCode"] == 200
        assert handler(message_event("ada=", "hi"), context)["statusCode"] == 200
        assert connections_api.sent("ada=") == [b"you said: hi", b"someone said: hi"]
        assert connections_api.sent("bob=") == [b"someone said: hi"]

        assert handler(disconnect_event("bob=", code=1001), context)["statusCode"] == 200
        assert handler.backend is not None
        assert handler.backend.connections() == ["ada="]
