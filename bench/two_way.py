"""Table 6: @connections calls per echo message, with and without two-way replies."""

from __future__ import annotations

import tempfile
from pathlib import Path

from examples.echo.app import app

from asgiway import Adapter
from asgiway.testing import ConnectionsApiDouble, LambdaContextStub, connect_event, message_event
from bench.table import Table

MESSAGES = 100


def run() -> Table:
    table = Table(
        f"6. Two-way replies: @connections calls per echo message ({MESSAGES} messages)",
        ["mode", "calls per message", "target"],
        anchor="a POST per reply (two-way replies off)",
    )
    for two_way, target in ((False, 1), (True, 0)):
        with tempfile.TemporaryDirectory() as folder, ConnectionsApiDouble() as api:
            handler = Adapter(
                app,
                dsn=f"sqlite://{Path(folder) / 'echo.db'}",
                websocket_path="/ws",
                api_gateway_endpoint_url=api.endpoint_url,
                two_way_replies=two_way,
            )
            handler(connect_event("Echo="), LambdaContextStub())
            before = len(api.calls)
            for number in range(MESSAGES):
                reply = handler(message_event("Echo=", f"message {number}"), LambdaContextStub())
                assert reply["statusCode"] == 200
            calls = (len(api.calls) - before) / MESSAGES
            handler.close()
        table.add("two-way replies" if two_way else "@connections POST", f"{calls:g}", target)
    return table
