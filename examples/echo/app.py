"""The echo example: a page and a WebSocket Echo endpoint, served from one Lambda function.

DSN_URL and WEBSOCKET_URL come from `asgiway dev examples.echo.app:handler` locally, and from the
CDK construct once deployed (e.g. `dynamodb://table` and the API's `wss://` URL).
"""

import os

from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint, WebSocketEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter

DSN_URL = os.environ.get("DSN_URL", "sqlite://echo.db")
WEBSOCKET_URL = os.environ.get("WEBSOCKET_URL", "ws://localhost:8000/ws")
HTML = f"""
<!DOCTYPE html>
<html>
    <head>
        <title>Chat</title>
    </head>
    <body>
        <h1>WebSocket Chat</h1>
        <form action="" onsubmit="sendMessage(event)">
            <input type="text" id="messageText" autocomplete="off"/>
            <button>Send</button>
        </form>
        <ul id='messages'>
        </ul>
        <script>
            var ws = new WebSocket("{WEBSOCKET_URL}");
            ws.onmessage = function(event) {{
                var messages = document.getElementById('messages')
                var message = document.createElement('li')
                var content = document.createTextNode(event.data)
                message.appendChild(content)
                messages.appendChild(message)
            }};
            function sendMessage(event) {{
                var input = document.getElementById("messageText")
                ws.send(input.value)
                input.value = ''
                event.preventDefault()
            }}
        </script>
    </body>
</html>
"""


class Homepage(HTTPEndpoint):
    async def get(self, request: Request) -> HTMLResponse:
        return HTMLResponse(HTML)


class Echo(WebSocketEndpoint):
    encoding = "text"

    async def on_receive(self, websocket: WebSocket, data: str) -> None:
        await websocket.send_text(f"Message text was: {data}")


routes = [
    Route("/", Homepage),
    WebSocketRoute("/ws", Echo),
]

app = Starlette(routes=routes)
handler = Adapter(app, dsn=DSN_URL, websocket_path="/ws")
