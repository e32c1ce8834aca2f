"""FastAPI's multi-client chat ("Handling disconnections and multiple clients"), ported to Lambda.

The documented version keeps every client's WebSocket in an in-memory `ConnectionManager` and
broadcasts by looping over that list. On Lambda each API Gateway event is its own short session,
possibly in another container, so that list holds objects of events that are over. This port
keeps the same endpoint and the same messages, with three changes:

- the list becomes a room in the connection store: `Connections.of(websocket).join(ROOM)`, and the
  broadcast is `Connections.broadcast(..., room=ROOM)`, which reaches every client whichever
  container serves them;
- the join happens at the real CONNECT only (`scope["asgiway.event"]`), since the handshake is
  replayed at every event;
- the client's number comes from the query string (`/ws?client_id=5`): an API Gateway WebSocket
  API has one URL, so a path parameter could not differ from client to client.

The `except WebSocketDisconnect` block runs once, when the client really leaves.
"""

from __future__ import annotations

import html
import os

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

from asgiway import EVENT_SCOPE_KEY
from asgiway.connections import Connections

ROOM = "chat"

PAGE = """<!DOCTYPE html>
<html>
    <head>
        <title>Chat</title>
        <meta charset="utf-8">
    </head>
    <body>
        <h1>WebSocket Chat</h1>
        <h2>Your ID: <span id="ws-id"></span></h2>
        <form action="" onsubmit="sendMessage(event)">
            <input type="text" id="messageText" autocomplete="off"/>
            <button>Send</button>
        </form>
        <ul id="messages"></ul>
        <script>
            var clientId = Date.now() % 100000;
            document.querySelector("#ws-id").textContent = clientId;
            var ws = new WebSocket("{websocket_url}?client_id=" + clientId);
            ws.onmessage = function(event) {{
                var message = document.createElement("li");
                message.appendChild(document.createTextNode(event.data));
                document.getElementById("messages").appendChild(message);
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

app = FastAPI()


@app.get("/")
async def get() -> HTMLResponse:
    websocket_url = os.environ.get("WEBSOCKET_URL", "ws://localhost:8000/ws")
    return HTMLResponse(PAGE.format(websocket_url=html.escape(websocket_url, quote=True)))


# --8<-- [start:endpoint]
@app.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket, client_id: int) -> None:
    await websocket.accept()
    connections = Connections.of(websocket)
    if websocket.scope[EVENT_SCOPE_KEY] == "connect":
        await connections.join(ROOM)
    try:
        while True:
            data = await websocket.receive_text()
            await websocket.send_text(f"You wrote: {data}")
            await connections.broadcast(f"Client #{client_id} says: {data}", room=ROOM)
    except WebSocketDisconnect:
        await connections.leave(ROOM)
        await connections.broadcast(f"Client #{client_id} left the chat", room=ROOM)
    # --8<-- [end:endpoint]
