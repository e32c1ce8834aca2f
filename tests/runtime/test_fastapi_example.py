"""The FastAPI example (examples/fastapi_app) through the handler, on the recorded AWS events."""

from __future__ import annotations

import json

from examples.fastapi_app.app import app

from asgiway import Adapter
from asgiway.testing import ConnectionsApiDouble, LambdaContextStub
from tests.docs import events


def test_its_http_route_and_its_websocket(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    handler = Adapter(
        app, dsn=dsn, websocket_path="/ws", api_gateway_endpoint_url=connections_api.endpoint_url
    )
    context = LambdaContextStub()
    reply = handler(events.http_get("/hello/ada"), context)
    assert (reply["statusCode"], json.loads(reply["body"])) == (200, {"hello": "ada"})

    for client in (events.RECORDED_ID, "bob="):
        assert handler(events.connect(client), context)["statusCode"] == 200
    assert handler(events.message("bonjour"), context)["statusCode"] == 200
    assert handler(events.disconnect(going_away=True), context)["statusCode"] == 200
    assert connections_api.sent(events.RECORDED_ID) == [b"you said: bonjour", b"someone said: bonjour"]
    assert connections_api.sent("bob=") == [b"someone said: bonjour"]
    assert handler.backend is not None
    assert handler.backend.connections() == ["bob="]
