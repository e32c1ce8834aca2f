"""No handshake credential lies in any store: a CONNECT through the Adapter, then a grep of every
raw record the store holds (issue 15, finding 3).

Each run plants fresh random values in the places credentials travel in a WebSocket handshake: an
`Authorization` header, a session cookie, an `X-Api-Key` header, and `?token=` and
`X-Amz-Signature=` in the query string. The app sees them all at CONNECT, which proves they were
there to leak; the store's own client then reads everything the store holds (tests/backends/
raw_records.py), where none of them may appear, and the marker that replaced them must.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter
from asgiway.credentials import NOT_STORED
from asgiway.testing import ConnectionsApiDouble, LambdaContextStub, connect_event, message_event
from tests.backends.raw_records import everything_stored

CONNECTION = "Cr3d=Ntl+5/"


def planted() -> dict[str, str]:
    """A fresh random value for each credential, by the name `stored_credentials` knows it by.

    Hexadecimal, so that URL encoding, JSON escaping and each store's own quoting leave it as it
    is: a search for the value itself finds every copy."""
    return {
        name: secrets.token_hex(16)
        for name in ("authorization", "cookie", "x-api-key", "token", "x-amz-signature")
    }


def recording_app(seen: list[tuple[str, dict[str, str], dict[str, str]]]) -> Starlette:
    """Accepts, and notes the headers and query parameters of every event's handshake."""

    class Recorder(WebSocketEndpoint):
        encoding = "text"

        async def on_connect(self, websocket: WebSocket) -> None:
            seen.append(
                (websocket.scope["asgiway.event"], dict(websocket.headers), dict(websocket.query_params))
            )
            await websocket.accept()

        async def on_receive(self, websocket: WebSocket, data: Any) -> None:
            websocket.state.messages = getattr(websocket.state, "messages", 0) + 1

    return Starlette(routes=[WebSocketRoute("/ws", Recorder)])


def connect_with(values: dict[str, str]) -> dict[str, Any]:
    return connect_event(
        CONNECTION,
        headers={
            "Authorization": f"Bearer {values['authorization']}",
            "Cookie": f"session={values['cookie']}",
            "X-Api-Key": values["x-api-key"],
        },
        query={
            "token": [values["token"]],
            "X-Amz-Signature": [values["x-amz-signature"]],
            "room": ["lobby"],
        },
    )


def serve(store_dsn: str, api: ConnectionsApiDouble, seen: list[Any], kept: Iterable[str]) -> Adapter:
    return Adapter(
        recording_app(seen),
        dsn=store_dsn,
        websocket_path="/ws",
        lifespan="off",
        api_gateway_endpoint_url=api.endpoint_url,
        stored_credentials=kept,
    )


@pytest.mark.parametrize("kept", [(), ("token",)], ids=["none-kept", "token-kept"])
def test_no_planted_credential_is_in_the_stores_raw_records(
    store_dsn: str, connections_api: ConnectionsApiDouble, kept: tuple[str, ...]
) -> None:
    values = planted()
    seen: list[tuple[str, dict[str, str], dict[str, str]]] = []
    handler = serve(store_dsn, connections_api, seen, kept)
    try:
        assert handler(connect_with(values), LambdaContextStub())["statusCode"] == 200
        assert handler(message_event(CONNECTION, "hello"), LambdaContextStub()) == {"statusCode": 200}
    finally:
        handler.close()

    # The real CONNECT's app had every value: they reached asgiway, so there was something to keep out.
    (
        (connect_event_name, connect_headers, connect_query),
        (message_event_name, message_headers, message_query),
    ) = seen
    assert (connect_event_name, message_event_name) == ("connect", "message")
    assert connect_headers["authorization"] == f"Bearer {values['authorization']}"
    assert connect_headers["cookie"] == f"session={values['cookie']}"
    assert connect_headers["x-api-key"] == values["x-api-key"]
    assert connect_query["token"] == values["token"]
    assert connect_query["X-Amz-Signature"] == values["x-amz-signature"]
    # A later event's handshake comes from the store: names kept, values marked, but those kept.
    assert message_headers["authorization"] == f"Bearer {NOT_STORED}"
    assert message_headers["cookie"] == f"session={NOT_STORED}"
    assert message_headers["x-api-key"] == NOT_STORED
    assert message_query["token"] == (values["token"] if "token" in kept else NOT_STORED)
    assert message_query["X-Amz-Signature"] == NOT_STORED
    assert message_query["room"] == "lobby"

    stored = everything_stored(store_dsn)
    assert NOT_STORED in stored, "the raw read found the stored handshake"
    leaked = {name for name, value in values.items() if value in stored}
    assert leaked == set(kept)
