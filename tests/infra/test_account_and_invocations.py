"""Account-wide settings left alone, bounded asynchronous invocations, API names from the construct's
path (issue 14, items 4, 5 and 6)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import App, Duration, Stack, assertions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sqs as sqs

from asgiway_cdk import WebSocketAsgiApp
from asgiway_cdk.construct import DEFAULT_ASYNC_MAX_EVENT_AGE, DEFAULT_ASYNC_RETRY_ATTEMPTS
from tests.infra.conftest import (
    CHAT,
    NO_BUNDLING,
    as_text,
    only,
    resources,
    stage,
    statements,
    synthesize,
    template_of,
)


@pytest.fixture(scope="module")
def default_template(dynamodb_template: assertions.Template) -> assertions.Template:
    return dynamodb_template


def two_apps(**options: Any) -> tuple[Stack, WebSocketAsgiApp, WebSocketAsgiApp]:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Team")
    first = WebSocketAsgiApp(stack, "Chat", code=str(CHAT), app="app:app", **options)
    second = WebSocketAsgiApp(stack, "Support", code=str(CHAT), app="app:app", stage_name="live", **options)
    return stack, first, second


# Item 4: the account's API Gateway CloudWatch role.


def test_by_default_no_account_wide_setting_and_no_websocket_logs(
    default_template: assertions.Template,
) -> None:
    default_template.resource_count_is("AWS::ApiGateway::Account", 0)
    roles = resources(default_template, "AWS::IAM::Role")
    assert "apigateway.amazonaws.com" not in as_text(roles)
    websocket = stage(default_template, "prod")["Properties"]
    assert "AccessLogSettings" not in websocket
    assert "LoggingLevel" not in websocket["DefaultRouteSettings"]
    # HTTP APIs deliver access logs without the account's role: those stay on.
    assert "DestinationArn" in stage(default_template, "$default")["Properties"]["AccessLogSettings"]


def test_the_role_the_account_needs_is_set_once_per_stack_and_kept() -> None:
    stack, first, second = two_apps(cloud_watch_role=True)
    template = template_of(stack)
    account_id, account = only(template, "AWS::ApiGateway::Account")
    (role_id,) = [
        name
        for name, role in resources(template, "AWS::IAM::Role").items()
        if "apigateway.amazonaws.com" in as_text(role["Properties"]["AssumeRolePolicyDocument"])
    ]
    assert account["Properties"]["CloudWatchRoleArn"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert resources(template, "AWS::IAM::Role")[role_id]["DeletionPolicy"] == "Retain"
    assert first.cloud_watch_role is second.cloud_watch_role is not None
    for name in ("prod", "live"):
        websocket = stage(template, name)
        # Logging is on, at ERROR, and only once the account's role is set.
        assert account_id in websocket["DependsOn"]
        assert "DestinationArn" in websocket["Properties"]["AccessLogSettings"]
        assert websocket["Properties"]["DefaultRouteSettings"]["LoggingLevel"] == "ERROR"


def test_websocket_logging_where_the_account_already_has_its_role() -> None:
    stack, chat = synthesize(websocket_logging=True, execution_logging_level="INFO")
    template = template_of(stack)
    template.resource_count_is("AWS::ApiGateway::Account", 0)
    assert chat.cloud_watch_role is None
    websocket = stage(template, "prod")["Properties"]
    assert "DestinationArn" in websocket["AccessLogSettings"]
    assert websocket["DefaultRouteSettings"]["LoggingLevel"] == "INFO"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"execution_logging_level": "ERROR"}, "needs websocket_logging=True"),
        ({"websocket_logging": True, "execution_logging_level": "DEBUG"}, "one of OFF, ERROR, INFO"),
    ],
)
def test_logging_settings_that_cannot_work_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synthesize(**options)


# Item 5: frames sent during CONNECT ride bounded asynchronous invocations.


def test_asynchronous_invocations_are_bounded_by_default(default_template: assertions.Template) -> None:
    function_id, _ = only(default_template, "AWS::Lambda::Function")
    config_id, config = only(default_template, "AWS::Lambda::EventInvokeConfig")
    assert config["Properties"] == {
        "FunctionName": {"Ref": function_id},
        "Qualifier": "$LATEST",
        "MaximumEventAgeInSeconds": DEFAULT_ASYNC_MAX_EVENT_AGE.to_seconds(),
        "MaximumRetryAttempts": DEFAULT_ASYNC_RETRY_ATTEMPTS,
    }
    assert DEFAULT_ASYNC_MAX_EVENT_AGE.to_seconds() <= 15 * 60
    assert "DestinationConfig" not in config["Properties"]
    # The stage serves CONNECT only once the grant and the bounds exist.
    (invoke_policy_id,) = [
        name
        for name, policy in resources(default_template, "AWS::IAM::Policy").items()
        if "lambda:InvokeFunction" in as_text(policy)
    ]
    assert set(stage(default_template, "prod")["DependsOn"]) >= {config_id, invoke_policy_id}


def test_the_invoke_grant_covers_the_functions_qualified_arns(default_template: assertions.Template) -> None:
    function_id, _ = only(default_template, "AWS::Lambda::Function")
    (statement,) = statements(default_template, "lambda:InvokeFunction")
    assert statement["Resource"] == [
        {"Fn::GetAtt": [function_id, "Arn"]},
        {"Fn::Join": ["", [{"Fn::GetAtt": [function_id, "Arn"]}, ":*"]]},
    ]


def test_a_failed_or_expired_invocation_goes_to_the_on_failure_destination() -> None:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test")
    queue = sqs.Queue(stack, "Undelivered", enforce_ssl=True)
    chat = WebSocketAsgiApp(
        stack,
        "Chat",
        code=str(CHAT),
        app="app:app",
        async_max_event_age=Duration.minutes(15),
        async_retry_attempts=1,
        on_failure=destinations.SqsDestination(queue),
    )
    template = template_of(stack)
    (queue_id,) = resources(template, "AWS::SQS::Queue")
    _, config = only(template, "AWS::Lambda::EventInvokeConfig")
    assert config["Properties"]["MaximumEventAgeInSeconds"] == 900
    assert config["Properties"]["MaximumRetryAttempts"] == 1
    assert config["Properties"]["DestinationConfig"] == {
        "OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}
    }
    (send,) = statements(template, "sqs:SendMessage")
    assert send["Resource"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert isinstance(chat.event_invoke_config, lambda_.EventInvokeConfig)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"async_max_event_age": Duration.minutes(16)}, "60 s .* to 15 minutes"),
        ({"async_max_event_age": Duration.seconds(59)}, "60 s .* to 15 minutes"),
        ({"async_retry_attempts": 3}, "0 to 2"),
        ({"async_retry_attempts": -1}, "0 to 2"),
    ],
)
def test_asynchronous_bounds_outside_lambdas_range_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synthesize(**options)


# Item 6: two apps in one stack.


def test_two_apps_in_one_stack_get_apis_named_after_their_paths() -> None:
    stack, _, _ = two_apps()
    names = sorted(
        api["Properties"]["Name"] for api in resources(template_of(stack), "AWS::ApiGatewayV2::Api").values()
    )
    assert names == ["Team-Chat-Http", "Team-Chat-WebSocket", "Team-Support-Http", "Team-Support-WebSocket"]
