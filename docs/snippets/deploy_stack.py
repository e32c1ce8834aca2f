"""A CDK app deploying the chat example: Lambda, a WebSocket API, an HTTP API and a DynamoDB table."""

from aws_cdk import App, Stack

from asgiway_cdk import WebSocketAsgiApp

app = App()
stack = Stack(app, "Chat")
chat = WebSocketAsgiApp(
    stack,
    "Chat",
    code="examples/chat",  # the app's folder, with its pinned requirements.txt
    app="app:app",
    websocket_path="/ws",
    # or "s3", a store you have ("dynamodb://my-table", "s3://bucket/prefix/", table=, bucket=),
    # or a dsn such as "rediss://cache.internal:6379" with its password in dsn_secret=
    backend="dynamodb",
    routes=["sendmessage"],  # custom routes beside $connect, $default and $disconnect
)
# chat.websocket_url, chat.connections_url and chat.http_url are the stack's outputs too.
app.synth()
