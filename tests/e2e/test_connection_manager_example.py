"""examples/connection_manager: FastAPI's multi-client chat on Connections rooms, through `asgiway dev`.

Several instances serve the clients (as Lambda containers would), so an in-memory list could not
work here; the room in the store does.
"""

from __future__ import annotations

from websockets.sync.client import ClientConnection, connect

from tests.e2e.test_dev_http import fetch
from tests.support.dev_server import DevServer
from tests.support.waits import ARRIVAL_SECONDS

APP = "examples.connection_manager.app:app"


def frames(client: ClientConnection, count: int) -> list[str]:
    return [str(client.recv(timeout=ARRIVAL_SECONDS)) for _ in range(count)]


def test_every_client_sees_every_message_once_and_each_departure() -> None:
    with DevServer(APP, "--concurrency", "4") as server:
        status, _, page = fetch(f"{server.origin}/")
        assert status == 200
        assert f'new WebSocket("{server.websocket_url}?client_id="' in page
        with (
            connect(f"{server.websocket_url}?client_id=1") as one,
            connect(f"{server.websocket_url}?client_id=2") as two,
        ):
            with connect(f"{server.websocket_url}?client_id=3") as three:
                one.send("hello")
                assert frames(one, 2) == ["You wrote: hello", "Client #1 says: hello"]
                assert frames(two, 1) == ["Client #1 says: hello"]
                assert frames(three, 1) == ["Client #1 says: hello"]
                three.send("bye")
                assert frames(three, 2) == ["You wrote: bye", "Client #3 says: bye"]
                assert frames(one, 1) == ["Client #3 says: bye"]
                assert frames(two, 1) == ["Client #3 says: bye"]
            # three left: the others hear it once, and three no longer receives the room's messages.
            assert frames(one, 1) == ["Client #3 left the chat"]
            assert frames(two, 1) == ["Client #3 left the chat"]
            two.send("still here")
            assert frames(two, 2) == ["You wrote: still here", "Client #2 says: still here"]
            # The very next frame one gets is two's message: nothing stray or repeated came before.
            assert frames(one, 1) == ["Client #2 says: still here"]
