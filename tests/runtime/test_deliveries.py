"""The asynchronous invocation that delivers CONNECT frames, as an attacker allowed to invoke the
function would send it: it can name no endpoint, and anything malformed is a logged 400."""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter
from asgiway.deferred import RECORDED_ENDPOINT_KEY, wait_for_delivery
from asgiway.sources.delivery import DELIVERY_EVENT_KEY
from asgiway.testing import ConnectionsApiDouble, LambdaContextStub, connect_event


async def greeter(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("welcome")
    await websocket.receive_text()


APP = Starlette(routes=[WebSocketRoute("/", greeter)])


class Listener:
    """An outside host: records whatever reaches it (it must be nothing)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                listener.requests.append(dict(self.headers))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/prod"


def delivery(**payload: Any) -> dict[str, Any]:
    return {DELIVERY_EVENT_KEY: payload}


def test_a_forged_delivery_naming_an_outside_url_posts_nothing_there(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    """The endpoint comes from the function: its configuration, else what its CONNECT recorded.
    A payload's `endpoint_url` is no field at all."""
    outside = Listener()
    handler = Adapter(APP, dsn=dsn, lifespan="off")
    forged = delivery(endpoint_url=outside.url, connection_id="victim=", frames=[{"text": "hi"}])
    with caplog.at_level(logging.ERROR, logger="asgiway"):
        assert handler(forged, LambdaContextStub()) == {"statusCode": 400, "body": "Bad Request"}
    assert "unknown fields ['endpoint_url']" in caplog.text
    # Without it, a connection the store does not know has no endpoint either.
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="asgiway"):
        unknown = delivery(connection_id="victim=", frames=[{"text": "hi"}])
        assert handler(unknown, LambdaContextStub())["statusCode"] == 400
    assert "no @connections endpoint is configured and none was recorded" in caplog.text
    assert outside.requests == []
    outside.server.shutdown()


def test_a_delivery_posts_where_its_connect_came_from(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    """With no configured endpoint, the CONNECT records its own, and the delivery uses it."""
    handler = Adapter(APP, dsn=dsn, lifespan="off")
    # The event's own endpoint would be https://{domain}/{stage}; here a loopback stands in for it
    # by configuration at CONNECT only, and the delivery then finds it recorded.
    connecting = Adapter(APP, dsn=dsn, lifespan="off", api_gateway_endpoint_url=connections_api.endpoint_url)
    assert connecting(connect_event("a="), LambdaContextStub())["statusCode"] == 200
    wait_for_delivery("a=")  # its own welcome first
    assert connecting.backend is not None
    record = connecting.backend.load("a=")
    assert record is not None
    assert record.scope[RECORDED_ENDPOINT_KEY] == connections_api.endpoint_url
    reply = handler(delivery(connection_id="a=", frames=[{"text": "late hello"}]), LambdaContextStub())
    assert json.loads(reply["body"]) == {"delivered": 1}
    assert connections_api.sent("a=")[-1] == b"late hello"


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"connection_id": "a="},
        {"connection_id": "a=", "frames": "hi"},
        {"connection_id": "a=", "frames": [{"text": 1}]},
        {"connection_id": "a=", "frames": [{"bytes": "not base64!"}]},
        {"connection_id": "a=", "frames": [{"text": "x", "bytes": "AA=="}]},
        {"connection_id": "a=", "frames": [], "close": "yes"},
        {"connection_id": "../../@connections", "frames": []},
        {"connection_id": "", "frames": []},
        {"connection_id": ["a="], "frames": []},
    ],
)
def test_a_malformed_delivery_is_a_logged_400_never_a_raise(
    connections_api: ConnectionsApiDouble, payload: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A raise would make Lambda retry the invocation twice; the payload is refused once."""
    handler = Adapter(APP, lifespan="off", api_gateway_endpoint_url=connections_api.endpoint_url)
    with caplog.at_level(logging.ERROR, logger="asgiway"):
        assert handler({DELIVERY_EVENT_KEY: payload}, LambdaContextStub()) == {
            "statusCode": 400,
            "body": "Bad Request",
        }
    assert "Refused a malformed delivery event" in caplog.text
    assert connections_api.calls == []
