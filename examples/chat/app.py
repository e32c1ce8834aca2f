"""The chat example: a page at `/` to join a room under a name, a multi-user, multi-room chat at `/ws`.

The page speaks the protocol of AWS's sample chat (simple-websockets-chat-app):
`{"action": "sendmessage", "data": "hi"}`, which API Gateway's route selection expression
(`$request.body.action`) sends to the `sendmessage` route. The app dispatches on that route,
`scope["asgiway.route"]`; anything else arrives on `$default` and gets a hint back. The route is
declared where API Gateway's are: `routes=["sendmessage"]` in infra/app.py, and `--route
sendmessage` for `asgiway dev`.

Every frame the app sends is a JSON object with a `type` (see `frame`): `welcome` to the one who
joins, `joined` and `left` to the rest of the room with who is in it now, `message` to the whole
room, and `notice` to one sender whose message was not sent. Each visitor's name and room live in
the connection's state, so every message is signed with them on whatever Lambda container serves
it; messages go to the room through `Connections.broadcast`. `WEBSOCKET_URL` (set by `asgiway dev`
and by the CDK construct) tells the page where to connect.
"""

from __future__ import annotations

import html
import json
import os
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
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
EMPTY = "Empty messages are not sent."
#: Longest name and room a visitor may pick, so that one cannot fill everyone's member list.
MAX_NAME_LENGTH = 32
#: A connection also joins the room "name:ada": its name, for the member lists the others see.
NAME_TAG = "name:"

HERE = Path(__file__).parent
#: The page, with `{{ websocket_url }}` where the WebSocket API's URL goes.
PAGE = (HERE / "page.html").read_text()
FAVICON = (HERE / "favicon.svg").read_bytes()


def frame(kind: str, **fields: Any) -> str:
    """A frame of the chat's protocol; `at` is when the server sent it, in epoch milliseconds."""
    return json.dumps({"type": kind, "at": int(time.time() * 1000), **fields})


async def homepage(request: Request) -> HTMLResponse:
    websocket_url = os.environ.get("WEBSOCKET_URL", "ws://localhost:8000/ws")
    return HTMLResponse(PAGE.replace("{{ websocket_url }}", html.escape(websocket_url, quote=True)))


async def favicon(request: Request) -> Response:
    # Cached for a day: browsers ask for it with every page otherwise.
    return Response(FAVICON, media_type="image/svg+xml", headers={"cache-control": "public, max-age=86400"})


async def others_in(connections: Connections, room: str) -> list[str]:
    """The names of everyone in `room` but this connection.

    The store knows connection ids, not names: each connection's name is the room it tagged itself
    with. One lookup per member is fine for a chat; a large room would keep names in a table.
    """
    names: list[str] = []
    for connection_id in await connections.members(room):
        if connection_id == connections.connection_id:
            continue  # at CONNECT it may not be listed yet, at DISCONNECT it may still be
        tags = [tag for tag in await connections.rooms(connection_id) if tag.startswith(NAME_TAG)]
        names.extend(tag.removeprefix(NAME_TAG) for tag in tags[:1])
    return names


def by_name(names: list[str]) -> list[str]:
    return sorted(names, key=str.casefold)


def chosen(text: str | None, default: str) -> str:
    return (text or "").strip()[:MAX_NAME_LENGTH] or default


class Chat(WebSocketEndpoint):
    encoding = "text"

    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        # The handshake is replayed at every event: join and announce only at the real one.
        if websocket.scope[EVENT_SCOPE_KEY] != "connect":
            return
        name = websocket.state.name = chosen(websocket.query_params.get("name"), "guest")
        room = websocket.state.room = chosen(websocket.query_params.get("room"), "lobby")
        connections = Connections.of(websocket)
        me = connections.connection_id or ""
        await connections.join(room)
        await connections.join(NAME_TAG + name)
        members = by_name([*await others_in(connections, room), name])
        await websocket.send_text(frame("welcome", room=room, name=name, you=me, members=members))
        await connections.broadcast(frame("joined", name=name, members=members), room=room, exclude=[me])

    async def on_receive(self, websocket: WebSocket, data: str) -> None:
        if websocket.scope[ROUTE_SCOPE_KEY] != SEND_MESSAGE:
            # $default: API Gateway found no `sendmessage` action in the message.
            await websocket.send_text(frame("notice", text=USAGE))
            return
        text = json.loads(data).get("data")
        text = text if isinstance(text, str) else json.dumps(text)
        if not text.strip():
            await websocket.send_text(frame("notice", text=EMPTY))
            return
        connections = Connections.of(websocket)
        name, room = websocket.state.name, websocket.state.room
        await connections.broadcast(
            frame("message", name=name, text=text, sender=connections.connection_id), room=room
        )

    async def on_disconnect(self, websocket: WebSocket, close_code: int) -> None:
        # Starlette calls this at the end of every session; only a real DISCONNECT is a departure.
        if websocket.scope[EVENT_SCOPE_KEY] != "disconnect":
            return
        connections = Connections.of(websocket)
        me = connections.connection_id or ""
        room = websocket.state.room
        members = by_name(await others_in(connections, room))
        await connections.broadcast(
            frame("left", name=websocket.state.name, members=members), room=room, exclude=[me]
        )


app = Starlette(
    routes=[
        Route("/", homepage),
        Route("/favicon.svg", favicon),
        Route("/favicon.ico", favicon),  # what a browser asks for when a page names no icon
        WebSocketRoute("/ws", Chat),
    ]
)
