"""Run the chat example locally through the real Lambda handler, on sqlite, with no AWS account.

`python -m examples.chat` plays API Gateway for a scripted visit: it fetches the page, connects
three visitors to two rooms, sends their messages as MESSAGE events, disconnects them, and prints
every frame each visitor received through @connections (served here by a loopback stand-in).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from asgiway import Adapter
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    http_event,
    message_event,
)


def main() -> None:
    # boto3 signs every @connections call; the loopback stand-in accepts any key pair.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("WEBSOCKET_URL", "wss://abcdef1234.execute-api.us-east-1.amazonaws.com/test")
    from examples.chat.app import app

    with tempfile.TemporaryDirectory() as folder, ConnectionsApiDouble() as connections:
        dsn = f"sqlite://{Path(folder) / 'chat.db'}"
        handler = Adapter(
            app, dsn=dsn, websocket_path="/ws", api_gateway_endpoint_url=connections.endpoint_url
        )
        page = handler(http_event("GET", "/"), LambdaContextStub())
        content_type = page["headers"]["content-type"]
        print(f"GET /            -> {page['statusCode']} {content_type}, {len(page['body'])} bytes")

        visitors = {"alice": "AlIcE111aaaA=", "bob": "B0b22222bbbB=", "carol": "CaRoL333cccC="}
        rooms = {"alice": "lobby", "bob": "lobby", "carol": "garden"}
        for name, connection_id in visitors.items():
            query = {"name": [name], "room": [rooms[name]]}
            reply = handler(connect_event(connection_id, query=query), LambdaContextStub())
            print(f"CONNECT {name:<8} -> {reply['statusCode']} (room {rooms[name]})")
        script = [("alice", "Hello, Bob!"), ("bob", "Hi Alice, this runs on sqlite."), ("carol", "Anyone?")]
        for name, text in script:
            reply = handler(message_event(visitors[name], text), LambdaContextStub())
            print(f"MESSAGE {name:<8} -> {reply['statusCode']}: {text!r}")
        for name, connection_id in visitors.items():
            reply = handler(disconnect_event(connection_id, code=1001), LambdaContextStub())
            print(f"DISCONNECT {name:<5} -> {reply['statusCode']}")
        for name, connection_id in visitors.items():
            frames = [frame.decode() for frame in connections.sent(connection_id)]
            print(f"{name} received: {frames}")
        left = handler.backend.connections() if handler.backend else []
        print(
            f"{len(connections.calls)} @connections calls made; {len(left)} connection records left in {dsn}"
        )
        handler.close()


if __name__ == "__main__":
    main()
