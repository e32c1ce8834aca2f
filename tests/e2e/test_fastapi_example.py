"""examples/fastapi_app as its docstring runs it: `asgiway dev examples.fastapi_app.app:app`."""

from __future__ import annotations

import json

from websockets.sync.client import connect

from tests.e2e.test_dev_http import fetch
from tests.support.dev_server import DevServer
from tests.support.waits import ARRIVAL_SECONDS


def test_it_serves_http_and_every_client_hears_a_message() -> None:
    with DevServer("examples.fastapi_app.app:app") as server:
        status, _, body = fetch(f"{server.origin}/hello/ada")
        assert (status, json.loads(body)) == (200, {"hello": "ada"})
        with connect(server.websocket_url) as ada, connect(server.websocket_url) as bob:
            ada.send("hi")
            assert [ada.recv(timeout=ARRIVAL_SECONDS), ada.recv(timeout=ARRIVAL_SECONDS)] == [
                "you said: hi",
                "someone said: hi",
            ]
            assert bob.recv(timeout=ARRIVAL_SECONDS) == "someone said: hi"
