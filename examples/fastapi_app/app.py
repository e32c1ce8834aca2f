"""FastAPI on Lambda: one HTTP route and one WebSocket, run locally with
`asgiway dev examples.fastapi_app.app:app`, deployed with the construct (`app="app:app"`).

Each WebSocket event is its own short session on Lambda: the socket answers its own client with
`send_text`, and reaches every client, whichever container serves them, through `Connections`.
"""

from fastapi import FastAPI, WebSocket

from asgiway.connections import Connections

app = FastAPI()


@app.get("/hello/{name}")
async def hello(name: str) -> dict[str, str]:
    return {"hello": name}


@app.websocket("/ws")
async def chat(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(f"you said: {text}")
        await Connections.of(websocket).broadcast(f"someone said: {text}")
