"""A chat that writes down its lifespan and its clients' departures, for the emulator's shutdown test.

`ASGIWAY_TEST_JOURNAL` names a file each instance appends to: "startup", "shutdown", and
"left <name> <code> <reason>" when a client's DISCONNECT reaches the app.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from asgiway import EVENT_SCOPE_KEY
from asgiway.connections import Connections


def note(line: str) -> None:
    with Path(os.environ["ASGIWAY_TEST_JOURNAL"]).open("a") as journal:
        journal.write(line + "\n")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    note("startup")
    yield
    note("shutdown")


app = FastAPI(lifespan=lifespan)


@app.websocket("/ws")
async def chat(websocket: WebSocket, name: str) -> None:
    await websocket.accept()
    if websocket.scope[EVENT_SCOPE_KEY] == "connect":
        await Connections.of(websocket).join("lobby")
        await websocket.send_text(f"hello {name}")
    try:
        while True:
            await websocket.send_text(f"{name}: {await websocket.receive_text()}")
    except WebSocketDisconnect as left:
        note(f"left {name} {left.code} {left.reason}")
