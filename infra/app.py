"""The CDK app `cdk.json` runs: the chat example, deployed with `WebSocketAsgiApp` on DynamoDB.

cdk-nag's AwsSolutions checks run on every synth: a finding the construct does not acknowledge
(with its reason) stops `cdk synth` and `cdk deploy`. The stack is environment-agnostic unless
`-c account=123456789012 -c region=eu-west-1` names where it goes.
"""

from __future__ import annotations

from pathlib import Path

import cdk_nag
from aws_cdk import App, Environment, Stack, Validations

from asgiway_cdk import WebSocketAsgiApp

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "chat"

app = App()
account, region = app.node.try_get_context("account"), app.node.try_get_context("region")
environment = Environment(account=account, region=region) if account or region else None
stack = Stack(app, "AsgiwayChat", env=environment)
# The page sends AWS's sample chat protocol, {"action": "sendmessage", "data": ...}: API Gateway's
# default route selection expression, $request.body.action, sends it to this route.
chat = WebSocketAsgiApp(
    stack,
    "Chat",
    code=str(EXAMPLE),
    app="app:app",
    websocket_path="/ws",
    backend="dynamodb",
    routes=["sendmessage"],
)
# The chat page is served by the app's own HTTP API, so browsers connect from that origin only: a
# page on any other site is refused at CONNECT, before the app runs.
chat.allow_origins(chat.http_origin)
Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app))
app.synth()
