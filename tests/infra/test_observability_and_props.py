"""Tracing, JSON logs, stage metrics and logging, concurrency; every prop documented with its default,
everything created exposed (issue 14, items 11 and 12)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import aws_apigatewayv2 as apigateway
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3

from asgiway_cdk import WebSocketAsgiApp
from tests.infra.conftest import only, stage, statements, synthesize, template_of

DOCS = Path(__file__).resolve().parents[2] / "docs" / "construct.md"
#: The props: every keyword of __init__.
PROPS = [
    name
    for name, parameter in inspect.signature(WebSocketAsgiApp.__init__).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
]


def test_the_defaults_log_json_at_info_trace_nothing_and_reserve_nothing() -> None:
    stack, _ = synthesize()
    _, function = only(template_of(stack), "AWS::Lambda::Function")
    properties = function["Properties"]
    assert properties["LoggingConfig"]["LogFormat"] == "JSON"
    assert properties["LoggingConfig"]["ApplicationLogLevel"] == "INFO"
    assert "TracingConfig" not in properties
    assert "ReservedConcurrentExecutions" not in properties


def test_observability_props_reach_the_function_and_the_stages() -> None:
    stack, _ = synthesize(
        tracing=lambda_.Tracing.ACTIVE,
        application_log_level=lambda_.ApplicationLogLevel.WARN,
        reserved_concurrent_executions=20,
        detailed_metrics=True,
    )
    template = template_of(stack)
    _, function = only(template, "AWS::Lambda::Function")
    properties = function["Properties"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["LoggingConfig"]["ApplicationLogLevel"] == "WARN"
    assert properties["ReservedConcurrentExecutions"] == 20
    (xray,) = statements(template, "xray:PutTraceSegments")
    assert xray["Resource"] == "*"
    for name in ("prod", "$default"):
        assert stage(template, name)["Properties"]["DefaultRouteSettings"]["DetailedMetricsEnabled"] is True


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"reserved_concurrent_executions": 0}, "must be positive"),
        ({"environment": {"DSN_URL": "sqlite:///tmp/x.db"}}, "DSN_URL is set by the construct"),
        (
            {"environment": {"ASGIWAY_TWO_WAY_REPLIES": "true"}},
            "ASGIWAY_TWO_WAY_REPLIES is set by the construct",
        ),
    ],
)
def test_function_settings_that_cannot_work_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synthesize(**options)


def test_more_environment_variables_are_added() -> None:
    stack, _ = synthesize(environment={"ASGIWAY_LIFESPAN": "off", "FEATURE": "on"})
    _, function = only(template_of(stack), "AWS::Lambda::Function")
    variables = function["Properties"]["Environment"]["Variables"]
    assert (variables["ASGIWAY_LIFESPAN"], variables["FEATURE"]) == ("off", "on")


def test_everything_created_is_an_attribute() -> None:
    _, chat = synthesize(backend="dynamodb", cloud_watch_role=True, routes=["sendmessage"])
    expected: dict[str, Any] = {
        "function": lambda_.Function,
        "role": iam.Role,
        "log_group": logs.LogGroup,
        "access_log_group": logs.LogGroup,
        "web_socket_api": apigateway.WebSocketApi,
        "stage": apigateway.WebSocketStage,
        "http_api": apigateway.HttpApi,
        "http_stage": apigateway.HttpStage,
        "table": dynamodb.TableV2,
        "event_invoke_config": lambda_.EventInvokeConfig,
        "cloud_watch_role": iam.Role,
    }
    for name, kind in expected.items():
        assert isinstance(getattr(chat, name), kind), name
    assert isinstance(chat.routes["sendmessage"], apigateway.WebSocketRoute)
    for url in ("websocket_url", "connections_url", "http_url"):
        assert isinstance(getattr(chat, url), str), url
    _, on_s3 = synthesize(backend="s3")
    assert isinstance(on_s3.bucket, s3.Bucket)


def documented_props() -> dict[str, str]:
    """The entries of __init__'s docstring: `    name[, name]: text` and its indented lines, by prop."""
    entries: dict[str, str] = {}
    current: list[str] = []
    for line in (inspect.getdoc(WebSocketAsgiApp.__init__) or "").splitlines():
        entry = re.match(r"^ {4}([a-z_]+(?:, [a-z_]+)*): (.*)$", line)
        if entry:
            current = entry.group(1).split(", ")
            for name in current:
                entries[name] = entry.group(2)
        elif line.startswith(" " * 8):
            for name in current:
                entries[name] += " " + line.strip()
        else:
            current = []
    return entries


def test_every_prop_is_documented_in_the_docstring_with_its_default() -> None:
    entries = documented_props()
    assert sorted(entries) == sorted(PROPS)
    for prop, text in entries.items():
        assert "Required" in text or "Default" in text, f"{prop}'s entry states no default"


def test_every_prop_has_a_row_in_the_docs_props_table() -> None:
    rows = {}
    for line in DOCS.read_text().splitlines():
        found = re.match(r"\| `([a-z_]+)` \|(.*)\|(.*)\|(.*)\|$", line)
        if found:
            rows[found.group(1)] = [cell.strip() for cell in found.groups()[1:]]
    assert sorted(rows) == sorted(PROPS)
    for prop, (kind, default, why) in rows.items():
        assert kind, prop
        assert default, prop
        assert len(why) > 20, prop
