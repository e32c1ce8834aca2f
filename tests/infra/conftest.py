"""Stacks synthesized once per module: CDK's jsii runtime makes every synth cost seconds."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.node_banners import banner_silencers

# Before aws_cdk starts jsii's Node process (here, and in every `cdk synth` these tests run).
os.environ.update(banner_silencers(os.environ))

from aws_cdk import App, Environment, Stack, assertions

from asgiway_cdk import WebSocketAsgiApp

CHAT = Path(__file__).resolve().parents[2] / "examples" / "chat"
#: CDK's own switch: bundle no stack (the unit tests read templates, not assets).
NO_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}
#: A stack deployed to a named account and region, as teams do (`env=`).
ENV = Environment(account="123456789012", region="eu-west-1")


def synthesize(env: Environment | None = None, **options: Any) -> tuple[Stack, WebSocketAsgiApp]:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test", env=env)
    construct = WebSocketAsgiApp(
        stack, "Chat", code=str(CHAT), app="app:app", websocket_path="/ws", **options
    )
    return stack, construct


def template_of(stack: Stack) -> assertions.Template:
    return assertions.Template.from_stack(stack)


def resources(template: assertions.Template, kind: str) -> dict[str, Any]:
    return dict(template.find_resources(kind))


def only(template: assertions.Template, kind: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, kind)
    assert len(found) == 1, list(found)
    return next(iter(found.items()))


def function_environment(template: assertions.Template) -> dict[str, Any]:
    _, function = only(template, "AWS::Lambda::Function")
    return dict(function["Properties"]["Environment"]["Variables"])


def statements(template: assertions.Template, action: str | None = None) -> list[dict[str, Any]]:
    """Every Allow statement of every IAM policy (whose actions include `action`, when given)."""
    found = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if action is None or action in actions:
                found.append(statement)
    return found


def websocket_api_id(template: assertions.Template) -> str:
    return next(
        name
        for name, api in resources(template, "AWS::ApiGatewayV2::Api").items()
        if api["Properties"]["ProtocolType"] == "WEBSOCKET"
    )


def stage(template: assertions.Template, name: str) -> dict[str, Any]:
    (found,) = [
        body
        for body in resources(template, "AWS::ApiGatewayV2::Stage").values()
        if body["Properties"]["StageName"] == name
    ]
    return dict(found)


def as_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@pytest.fixture(scope="module")
def dynamodb_template() -> assertions.Template:
    return template_of(synthesize(backend="dynamodb")[0])


@pytest.fixture(scope="module")
def s3_template() -> assertions.Template:
    return template_of(synthesize(backend="s3")[0])
