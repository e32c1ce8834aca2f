"""The chat example: the seed's chat page at `/`, its WebSocket at `/ws`.

`WEBSOCKET_URL` (set by `asgiway dev` and by the CDK construct) tells the page where to connect.
Each visitor names themselves with `?name=` on the WebSocket URL; the name is kept in the
connection's state, so every later message is signed with it on whatever container serves it.
"""

from __future__ import annotations

import html
import os

from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import EVENT_SCOPE_KEY

PAGE = """<!DOCTYPE html>
<html>
    <head>
        <title>Chat</title>
        <meta charset="utf-8">
    </head>
    <body>
        <h1>WebSocket Chat</h1>
        <form action="" onsubmit="sendMessage(event)">
            <input type="text" id="messageText" autocomplete="off"/>
            <button>Send</button>
        </form>
        <ul id="messages">
        </ul>
        <script>
            var name = new URLSearchParams(location.search).get("name") || "guest";
            var ws = new WebSocket("{websocket_url}?name=" + encodeURIComponent(name));
            ws.onmessage = function(event) {{
                var messages = document.getElementById("messages");
                var message = document.createElement("li");
                message.appendChild(document.createTextNode(event.data));
                messages.appendChild(message);
            }};
            function sendMessage(event) {{
                var input = document.getElementById("messageText");
                ws.send(input.value);
                input.value = "";
                event.preventDefault();
            }}
        </script>
    </body>
</html>
"""


async def homepage(request: Request) -> HTMLResponse:
    websocket_url = os.environ.get("WEBSOCKET_URL", "ws://localhost:8000/ws")
    return HTMLResponse(PAGE.format(websocket_url=html.escape(websocket_url, quote=True)))


class Chat(WebSocketEndpoint):
    encoding = "text"

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        if websocket.scope[EVENT_SCOPE_KEY] == "connect":
            websocket.state.name = websocket.query_params.get("name") or "guest"

    async def on_receive(self, websocket: WebSocket, data: str) -> None:
        await websocket.send_text(f"{websocket.state.name}: {data}")


app = Starlette(routes=[Route("/", homepage), WebSocketRoute("/ws", Chat)])
