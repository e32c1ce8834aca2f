"""The emulator's route selection and authorizer policies, piece by piece, and `asgiway invoke --route`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from asgiway.cli import main
from asgiway.local.authorizer import AuthorizerVerdict, IdentitySource, verdict_of
from asgiway.local.events import Client
from asgiway.local.instances import Invocation
from asgiway.local.routes import RouteTable, body_path

ARN = "arn:aws:execute-api:us-east-1:123456789012:asgiwaydev/dev/$connect"


@pytest.mark.parametrize(
    ("expression", "path"),
    [
        ("$request.body.action", ("action",)),
        ("${request.body.action}", ("action",)),
        ("$request.body.message.type", ("message", "type")),
    ],
)
def test_selection_expressions_name_a_body_path(expression: str, path: tuple[str, ...]) -> None:
    assert body_path(expression) == path


@pytest.mark.parametrize(
    "expression", ["action", "$request.header.x", "$request.body.", "$request.body.a..b"]
)
def test_other_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match="route selection expression"):
        RouteTable(selection_expression=expression)


def test_predefined_route_keys_are_not_custom_routes() -> None:
    with pytest.raises(ValueError, match=r"\$default"):
        RouteTable(keys=frozenset({"$default"}))


@pytest.mark.parametrize(
    ("body", "route"),
    [
        ('{"action": "sendmessage"}', "sendmessage"),
        ('{"action": "other"}', "$default"),
        ('{"action": true}', "true"),
        ('{"action": null}', "$default"),
        ("[1, 2]", "$default"),
        ("sendmessage", "$default"),
        (b'{"action": "sendmessage"}', "$default"),  # a binary frame is not JSON to API Gateway
    ],
)
def test_a_message_selects_its_route(body: str | bytes, route: str) -> None:
    table = RouteTable(keys=frozenset({"sendmessage", "true"}))
    assert table.select(body).route == route


def test_without_default_an_unmatched_message_has_no_route() -> None:
    table = RouteTable(keys=frozenset({"sendmessage"}), has_default=False)
    assert table.select('{"action": "x"}').route is None
    assert table.select('{"action": "sendmessage"}').route == "sendmessage"


def policy(*statements: dict[str, Any], **extra: Any) -> Invocation:
    return Invocation(
        result={"principalId": "me", "policyDocument": {"Statement": list(statements)}, **extra}
    )


def statement(effect: str, resource: str | list[str], action: str | list[str] = "execute-api:Invoke") -> Any:
    return {"Effect": effect, "Resource": resource, "Action": action}


@pytest.mark.parametrize(
    ("invocation", "status"),
    [
        (policy(statement("Allow", ARN)), 200),
        (policy(statement("Allow", "arn:aws:execute-api:*:*:asgiwaydev/*")), 200),
        (policy(statement("Allow", [ARN], ["execute-api:*"])), 200),
        (policy(statement("Allow", "*"), statement("Deny", ARN)), 403),
        (policy(statement("Allow", "arn:aws:execute-api:us-east-1:123456789012:other/*")), 403),
        (policy(statement("Allow", ARN, "s3:GetObject")), 403),
        (policy(statement("Maybe", ARN)), 500),
        (policy(statement("Allow", ARN), context={"list": [1]}), 500),
        (Invocation(result={"policyDocument": {}}), 500),
        (Invocation(error={"errorType": "Exception", "errorMessage": "Unauthorized"}), 401),
        (Invocation(error={"errorType": "KeyError", "errorMessage": "'token'"}), 500),
        (Invocation(timed_out=True), 500),
    ],
)
def test_policies_decide_the_handshake(invocation: Invocation, status: int) -> None:
    assert verdict_of(invocation, ARN).status == status


def test_an_allow_carries_its_context_and_principal() -> None:
    verdict = verdict_of(policy(statement("Allow", ARN), context={"user": "ada", "n": 1, "ok": True}), ARN)
    assert verdict == AuthorizerVerdict(200, {"user": "ada", "n": 1, "ok": True, "principalId": "me"})


@pytest.mark.parametrize(
    ("source", "query", "headers", "present"),
    [
        ("route.request.querystring.token", "token=t", (), True),
        ("route.request.querystring.token", "token=", (), False),
        ("route.request.header.Auth", "", (("auth", "x"),), True),
        ("route.request.header.Auth", "", (), False),
    ],
)
def test_identity_sources(
    source: str, query: str, headers: tuple[tuple[str, str], ...], present: bool
) -> None:
    client = Client("id", "127.0.0.1", 0, headers=headers, query_string=query)
    assert IdentitySource.parse(source).present_in(client) is present


def test_other_identity_sources_are_refused() -> None:
    with pytest.raises(ValueError, match=r"route\.request\.header\.NAME"):
        IdentitySource.parse("stageVariables.x")


def echo_route(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A handler that answers what it was sent, for `asgiway invoke`."""
    return {
        "route": event["requestContext"]["routeKey"],
        "body": event["body"],
        "id": event["requestContext"]["connectionId"],
    }


def test_invoke_builds_a_message_event_for_a_route(capsys: pytest.CaptureFixture[str]) -> None:
    target = "tests.local.test_routes_and_authorizers:echo_route"
    assert main(["invoke", target, "--route", "sendmessage", "--connection-id", "abc="]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {"route": "sendmessage", "body": '{"action": "sendmessage"}', "id": "abc="}
    assert main(["invoke", target, "--route", "$default", "--body", "hi"]) == 0
    assert json.loads(capsys.readouterr().out)["body"] == "hi"


def test_invoke_wants_an_event_or_a_route(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invoke", "tests.local.test_routes_and_authorizers:echo_route"]) == 2
    assert "--route" in capsys.readouterr().err
