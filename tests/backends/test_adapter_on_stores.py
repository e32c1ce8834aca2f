"""A WebSocket connection served through the Adapter on every store, across two containers."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter
from asgiway.backends import from_dsn
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    message_event,
)


class Counter(WebSocketEndpoint):
    encoding = "text"

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        if websocket.scope["asgiway.event"] == "connect":
            websocket.state.name = websocket.query_params["name"]
            websocket.state.count = 0

    async def on_receive(self, websocket: WebSocket, data: str) -> None:
        websocket.state.count += 1
        await websocket.send_text(f"{websocket.state.name} #{websocket.state.count}: {data}")


APP = Starlette(routes=[WebSocketRoute("/ws", Counter)])


def test_a_connection_lives_in_the_store_between_containers(
    store_dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    def container() -> Adapter:
        return Adapter(
            APP, dsn=store_dsn, websocket_path="/ws", api_gateway_endpoint_url=connections_api.endpoint_url
        )

    first, second = container(), container()
    connection_id = "Qw9=Er8+Ty7/"
    context: Any = LambdaContextStub()
    assert first(connect_event(connection_id, query={"name": ["ada"]}), context)["statusCode"] == 200
    assert first(message_event(connection_id, "one"), context) == {"statusCode": 200}
    assert second(message_event(connection_id, "two"), context) == {"statusCode": 200}
    assert first(message_event(connection_id, "three"), context) == {"statusCode": 200}
    assert connections_api.sent(connection_id) == [b"ada #1: one", b"ada #2: two", b"ada #3: three"]

    assert second(disconnect_event(connection_id), context) == {"statusCode": 200}
    assert from_dsn(store_dsn).load(connection_id) is None
    first.close()
    second.close()
