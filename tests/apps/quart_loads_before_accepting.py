"""A Quart handler that awaits before it accepts, as Quart's "Manually rejecting or accepting
websockets" describes: it loads the user (here from a slow store, in a thread and after a timer),
refuses with 403 when there is none, else accepts and answers each frame as that user.

Ours, not Quart's: the docs' own example of a manual accept is a sketch (`websocket.accept()`
without await, `...` for the rest). https://quart.palletsprojects.com/en/latest/how_to_guides/websockets.html
"""

from __future__ import annotations

import asyncio
import time

from quart import Quart, websocket

app = Quart(__name__)

USERS = {"ada": "Ada Lovelace", "bob": "Bob Kahn"}


def read_user(name: str) -> str | None:
    time.sleep(0.02)  # a blocking driver's round trip
    return USERS.get(name)


async def load_user(name: str) -> str | None:
    await asyncio.sleep(0.01)
    return await asyncio.to_thread(read_user, name)


@app.websocket("/ws")
async def ws() -> tuple[str, int] | None:
    user = await load_user(websocket.args.get("user", ""))
    if user is None:
        return "Unknown user", 403
    await websocket.accept()
    while True:
        data = await websocket.receive()
        await asyncio.sleep(0.01)  # more awaiting between receiving and replying
        text = data if isinstance(data, str) else data.decode()
        await websocket.send(f"{user}: {text}")
