"""The chat example: the seed's chat page at `/`, a multi-user, multi-room chat at `/ws`.

Open `/?room=lobby&name=ada` in two browsers. The page speaks the protocol of AWS's sample chat
(simple-websockets-chat-app): `{"action": "sendmessage", "data": "hi"}`, which API Gateway's route
selection expression (`$request.body.action`) sends to the `sendmessage` route. The app dispatches
on that route, `scope["asgiway.route"]`; anything else arrives on `$default` and gets a hint back.
The route is declared where API Gateway's are: `routes=["sendmessage"]` in infra/app.py, and
`--route sendmessage` for `asgiway dev`.

Each visitor's name lives in the connection's state, so every message is signed with it on
whatever Lambda container serves it; messages go to everyone in the room through
`Connections.broadcast`. `WEBSOCKET_URL` (set by `asgiway dev` and by the CDK construct) tells the
page where to connect.
"""

from __future__ import annotations

import html
import json
import os

from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import EVENT_SCOPE_KEY
from asgiway.connections import Connections
from asgiway.sources.websocket import ROUTE_SCOPE_KEY

#: The chat's one action, and the route API Gateway gives it.
SEND_MESSAGE = "sendmessage"
USAGE = (
    'This chat takes {"action": "sendmessage", "data": "your message"}. '
    "Running it locally? Start it with: asgiway dev examples.chat.app:app --route sendmessage"
)

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
            var params = new URLSearchParams(location.search);
            var query = new URLSearchParams({{
                room: params.get("room") || "lobby",
                name: params.get("name") || "guest"
            }});
            var ws = new WebSocket("{websocket_url}?" + query.toString());
            ws.onmessage = function(event) {{
                var messages = document.getElementById("messages");
                var message = document.createElement("li");
                message.appendChild(document.createTextNode(event.data));
                messages.appendChild(message);
            }};
            function sendMessage(event) {{
                var input = document.getElementById("messageText");
                ws.send(JSON.stringify({{action: "sendmessage", data: input.value}}));
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
        # The handshake is replayed at every event: join and announce only at the real one.
        if websocket.scope[EVENT_SCOPE_KEY] == "connect":
            websocket.state.name = websocket.query_params.get("name") or "guest"
            websocket.state.room = websocket.query_params.get("room") or "lobby"
            connections = Connections.of(websocket)
            await connections.join(websocket.state.room)
            await websocket.send_text(f"Welcome to #{websocket.state.room}, {websocket.state.name}!")
            await connections.broadcast(
                f"{websocket.state.name} joined",
                room=websocket.state.room,
                exclude=[connections.connection_id or ""],
            )

    async def on_receive(self, websocket: WebSocket, data: str) -> None:
        if websocket.scope[ROUTE_SCOPE_KEY] != SEND_MESSAGE:
            # $default: API Gateway found no `sendmessage` action in the message.
            await websocket.send_text(USAGE)
            return
        text = json.loads(data).get("data")
        await Connections.of(websocket).broadcast(
            f"{websocket.state.name}: {text if isinstance(text, str) else json.dumps(text)}",
            room=websocket.state.room,
        )

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        # Starlette calls this at the end of every session; only a real DISCONNECT is a departure.
        if websocket.scope[EVENT_SCOPE_KEY] == "disconnect":
            connections = Connections.of(websocket)
            await connections.broadcast(
                f"{websocket.state.name} left",
                room=websocket.state.room,
                exclude=[connections.connection_id or ""],
            )


app = Starlette(routes=[Route("/", homepage), WebSocketRoute("/ws", Chat)])
