"""The CDK app `cdk.json` runs: the chat example, deployed with `WebSocketAsgiApp` on DynamoDB."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import App, Stack

from asgiway_cdk import WebSocketAsgiApp

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "chat"

app = App()
stack = Stack(app, "AsgiwayChat")
WebSocketAsgiApp(stack, "Chat", code=str(EXAMPLE), app="app:app", websocket_path="/ws", backend="dynamodb")
app.synth()
