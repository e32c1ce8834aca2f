"""The app the load test serves through `asgiway dev`: rooms, and every message to the whole room.

`/?room=R&name=N` joins room R; each text frame goes to everyone in the room (the sender too) as
`N:text`. No join or leave notices: the test counts exactly the frames the clients sent.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import EVENT_SCOPE_KEY
from asgiway.connections import Connections


async def room(websocket: WebSocket) -> None:
    await websocket.accept()
    connections = Connections.of(websocket)
    if websocket.scope[EVENT_SCOPE_KEY] == "connect":
        websocket.state.room = websocket.query_params["room"]
        websocket.state.name = websocket.query_params["name"]
        await connections.join(websocket.state.room)
        await websocket.send_text("joined")
    text = await websocket.receive_text()
    result = await connections.broadcast(f"{websocket.state.name}:{text}", room=websocket.state.room)
    if result.failed:
        raise RuntimeError(f"{len(result.failed)} members not reached: {sorted(result.failed.values())[:3]}")
    await websocket.receive_text()


app = Starlette(routes=[WebSocketRoute("/", room)])
