"""Two-way replies: a message's reply goes back in the Lambda response, not through @connections."""

import os

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter


async def shout(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text.upper())


app = Starlette(routes=[WebSocketRoute("/ws", shout)])

# Only a route with a route response passes the body on: True means `$default`, which the
# construct's `two_way_replies=True` gives one.
handler = Adapter(
    app,
    dsn=os.environ.get("DSN_URL", "sqlite:///tmp/connections.db"),
    websocket_path="/ws",
    two_way_replies=True,
)
