"""Stacks synthesized once per module: CDK's jsii runtime makes every synth cost seconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack, assertions

from asgiway_cdk import WebSocketAsgiApp

CHAT = Path(__file__).resolve().parents[2] / "examples" / "chat"
#: CDK's own switch: bundle no stack (the unit tests read templates, not assets).
NO_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}


def synthesize(**options: Any) -> tuple[Stack, WebSocketAsgiApp]:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test")
    construct = WebSocketAsgiApp(
        stack, "Chat", code=str(CHAT), app="app:app", websocket_path="/ws", **options
    )
    return stack, construct


@pytest.fixture(scope="module")
def dynamodb_template() -> assertions.Template:
    return assertions.Template.from_stack(synthesize(backend="dynamodb")[0])


@pytest.fixture(scope="module")
def s3_template() -> assertions.Template:
    return assertions.Template.from_stack(synthesize(backend="s3")[0])
