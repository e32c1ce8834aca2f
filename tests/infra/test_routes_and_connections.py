"""Custom routes with per-route two-way replies, and reaching clients from elsewhere
(issue 14, items 9 and 10)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Stack, assertions
from aws_cdk import aws_apigatewayv2 as apigateway
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_lambda as lambda_

from asgiway_cdk import WebSocketAsgiApp
from tests.infra.conftest import (
    CHAT,
    ENV,
    NO_BUNDLING,
    function_environment,
    resources,
    statements,
    synthesize,
    template_of,
    websocket_api_id,
)


@pytest.fixture(scope="module")
def routed() -> tuple[assertions.Template, WebSocketAsgiApp]:
    stack, chat = synthesize(routes=["sendmessage", "typing"], two_way_replies=["$default", "sendmessage"])
    joined = chat.add_route("joinroom", two_way_reply=True)
    assert chat.routes["joinroom"] is joined
    return template_of(stack), chat


def websocket_routes(template: assertions.Template) -> dict[str, dict[str, Any]]:
    api_id = websocket_api_id(template)
    return {
        route["Properties"]["RouteKey"]: {"id": name, **route["Properties"]}
        for name, route in resources(template, "AWS::ApiGatewayV2::Route").items()
        if route["Properties"]["ApiId"] == {"Ref": api_id}
    }


def test_custom_routes_reach_the_function_through_the_same_integration(
    routed: tuple[assertions.Template, WebSocketAsgiApp],
) -> None:
    template, chat = routed
    routes = websocket_routes(template)
    assert sorted(routes) == ["$connect", "$default", "$disconnect", "joinroom", "sendmessage", "typing"]
    assert len({str(route["Target"]) for route in routes.values()}) == 1
    assert sorted(chat.routes) == ["joinroom", "sendmessage", "typing"]
    # API Gateway may invoke the function for each route (one permission per route key).
    source_arns = str(
        [
            permission["Properties"]["SourceArn"]
            for permission in resources(template, "AWS::Lambda::Permission").values()
        ]
    )
    for route_key in ("sendmessage", "typing", "joinroom"):
        assert f"/*{route_key}" in source_arns


def test_each_route_takes_its_own_route_response_and_the_runtime_is_told(
    routed: tuple[assertions.Template, WebSocketAsgiApp],
) -> None:
    template, _ = routed
    routes = websocket_routes(template)
    responded = {
        route_key
        for route_key, route in routes.items()
        if route.get("RouteResponseSelectionExpression") == "$default"
    }
    assert responded == {"$default", "sendmessage", "joinroom"}
    responses = resources(template, "AWS::ApiGatewayV2::RouteResponse")
    assert sorted(str(response["Properties"]["RouteId"]["Ref"]) for response in responses.values()) == sorted(
        routes[key]["id"] for key in responded
    )
    assert {response["Properties"]["RouteResponseKey"] for response in responses.values()} == {"$default"}
    assert function_environment(template)["ASGIWAY_TWO_WAY_REPLIES"] == "$default,sendmessage,joinroom"


@pytest.mark.parametrize(
    ("two_way_replies", "expected"),
    [(False, "false"), (True, "true"), (["$default"], "true"), (["sendmessage"], "sendmessage")],
)
def test_two_way_replies_reach_the_runtime_in_its_syntax(two_way_replies: Any, expected: str) -> None:
    stack, _ = synthesize(routes=["sendmessage"], two_way_replies=two_way_replies, http_api=False)
    assert function_environment(template_of(stack))["ASGIWAY_TWO_WAY_REPLIES"] == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"routes": ["$default"]}, "always exist"),
        ({"routes": [""]}, "give a custom one"),
        ({"routes": ["sendmessage", "sendmessage"]}, "routed already"),
        ({"two_way_replies": ["sendmessage"]}, "not '\\$default' nor in routes="),
        ({"two_way_replies": ["$connect"]}, "not '\\$default' nor in routes="),
        ({"two_way_replies": "sendmessage"}, "a list of route keys"),
    ],
)
def test_routes_that_cannot_work_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synthesize(**options)


def test_connections_url_is_the_stages_https_endpoint_and_an_output() -> None:
    stack, chat = synthesize(ENV)
    template = template_of(stack)
    api_id = websocket_api_id(template)
    expected = {
        "Fn::Join": [
            "",
            ["https://", {"Ref": api_id}, ".execute-api.eu-west-1.", {"Ref": "AWS::URLSuffix"}, "/prod"],
        ]
    }
    assert stack.resolve(chat.connections_url) == expected
    outputs = template.to_json()["Outputs"]
    (connections,) = [output for name, output in outputs.items() if name.startswith("ChatConnectionsUrl")]
    assert connections["Value"] == expected


def test_other_functions_get_manage_connections_on_this_stage_only() -> None:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test")
    chat = WebSocketAsgiApp(stack, "Chat", code=str(CHAT), app="app:app")
    reminder = lambda_.Function(
        stack,
        "Reminder",
        runtime=lambda_.Runtime.PYTHON_3_13,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): return None"),
    )
    grant = chat.grant_manage_connections(reminder)
    assert grant.success
    template = template_of(stack)
    api_id = websocket_api_id(template)
    reminder_role = [
        name for name in resources(template, "AWS::IAM::Role") if name.startswith("ReminderServiceRole")
    ]
    granted = [
        policy
        for policy in resources(template, "AWS::IAM::Policy").values()
        if policy["Properties"]["Roles"] == [{"Ref": reminder_role[0]}]
    ]
    (statement,) = granted[0]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "execute-api:ManageConnections"
    assert statement["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":execute-api:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":",
                {"Ref": api_id},
                "/prod/*/@connections/*",
            ],
        ]
    }
    assert len(statements(template, "execute-api:ManageConnections")) == 2  # the app's and the reminder's


def test_custom_domains_show_in_the_outputs() -> None:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test")
    certificate = acm.Certificate.from_certificate_arn(
        stack, "Certificate", "arn:aws:acm:us-east-1:123456789012:certificate/0f3c1a2b-example"
    )
    chat = WebSocketAsgiApp(
        stack,
        "Chat",
        code=str(CHAT),
        app="app:app",
        websocket_domain=apigateway.DomainName(
            stack, "Ws", domain_name="ws.example.com", certificate=certificate
        ),
        http_domain=apigateway.DomainName(
            stack, "Www", domain_name="www.example.com", certificate=certificate
        ),
    )
    outputs = template_of(stack).to_json()["Outputs"]
    values = {name.removeprefix("Chat")[:-8]: output["Value"] for name, output in outputs.items()}
    domains = {
        name: stack.resolve(value)
        for name, value in (("Ws", chat.websocket_custom_url), ("Www", chat.http_custom_url))
    }
    assert values["WebSocketCustomUrl"] == domains["Ws"]
    assert values["HttpCustomUrl"] == domains["Www"]
    assert "wss://" in str(domains["Ws"])
    assert "https://" in str(domains["Www"])
    assert {"WebSocketUrl", "ConnectionsUrl", "HttpUrl", "Store"} <= set(values)
