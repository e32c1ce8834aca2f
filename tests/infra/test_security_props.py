"""The construct's part of issue 15: no backups of two-hour records by default, a customer-managed
key for the store, the browser origins allowed to connect and the credentials the store may keep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Environment, Stack, assertions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3

from asgiway_cdk import WebSocketAsgiApp
from asgiway_cdk.construct import RECOVERY_PERIOD_DAYS
from tests.infra.conftest import (
    CHAT,
    ENV,
    NO_BUNDLING,
    function_environment,
    only,
    resources,
    statements,
    synthesize,
    template_of,
)
from tests.infra.test_synth import nag_report, run_cfn_lint

DDB3 = "AwsSolutions::AwsSolutions-DDB3"
KEY_ACTIONS = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]


def acknowledged(construct: Any) -> dict[str, str]:
    """The cdk-nag acknowledgements made on `construct`, by rule id."""
    found: dict[str, str] = {}
    for entry in construct.node.metadata:
        if entry.type == "aws:cdk:acknowledged-rules":
            found.update(entry.data)
    return found


def with_key(env: Environment | None = None, **options: Any) -> tuple[App, Stack, WebSocketAsgiApp]:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test", env=env)
    key = kms.Key(stack, "StoreKey", enable_key_rotation=True)
    chat = WebSocketAsgiApp(stack, "Chat", code=str(CHAT), app="app:app", encryption_key=key, **options)
    return app, stack, chat


def key_statement(template: assertions.Template) -> dict[str, Any]:
    (statement,) = statements(template, "kms:Decrypt")
    return statement


# --- Point-in-time recovery ---------------------------------------------------------------------


def test_the_created_table_keeps_no_backups_by_default_and_says_why() -> None:
    stack, chat = synthesize(backend="dynamodb")
    _, table = only(template_of(stack), "AWS::DynamoDB::GlobalTable")
    # Written as off, so that an existing table that had it on turns it off on the next deploy.
    assert table["Properties"]["Replicas"][0]["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": False
    }
    assert chat.table is not None
    reason = acknowledged(chat.table)[DDB3]
    assert "2 h 10 min" in reason
    assert "35" in reason
    assert "point_in_time_recovery=True" in reason


def test_point_in_time_recovery_on_request_keeps_one_day() -> None:
    stack, chat = synthesize(backend="dynamodb", point_in_time_recovery=True)
    _, table = only(template_of(stack), "AWS::DynamoDB::GlobalTable")
    assert RECOVERY_PERIOD_DAYS == 1
    assert table["Properties"]["Replicas"][0]["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True,
        "RecoveryPeriodInDays": 1,
    }
    assert chat.table is not None
    assert DDB3 not in acknowledged(chat.table)


@pytest.mark.parametrize("store", [{"backend": "s3"}, {"backend": "dynamodb://team-table"}, {"table": True}])
def test_point_in_time_recovery_is_for_the_created_table_only(store: dict[str, Any]) -> None:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test")
    if store.get("table"):
        store = {"table": dynamodb.TableV2.from_table_name(stack, "Table", "team-table")}
    with pytest.raises(ValueError, match="point_in_time_recovery is for the table the construct creates"):
        WebSocketAsgiApp(stack, "Chat", code=str(CHAT), app="app:app", point_in_time_recovery=True, **store)


# --- A customer-managed key --------------------------------------------------------------------


@pytest.mark.parametrize("env", [None, ENV], ids=["agnostic", "env"])
def test_a_customer_managed_key_encrypts_the_created_table_and_the_function_may_use_it(
    env: Environment | None,
) -> None:
    _, stack, _ = with_key(env, backend="dynamodb")
    template = template_of(stack)
    key_id, _ = only(template, "AWS::KMS::Key")
    _, table = only(template, "AWS::DynamoDB::GlobalTable")
    assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    (replica,) = table["Properties"]["Replicas"]
    assert replica["SSESpecification"] == {"KMSMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    statement = key_statement(template)
    assert sorted(statement["Action"]) == KEY_ACTIONS
    assert statement["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_a_customer_managed_key_encrypts_the_created_bucket_with_a_bucket_key() -> None:
    _, stack, _ = with_key(backend="s3")
    template = template_of(stack)
    key_id, _ = only(template, "AWS::KMS::Key")
    _, bucket = only(template, "AWS::S3::Bucket")
    (rule,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule == {
        "BucketKeyEnabled": True,
        "ServerSideEncryptionByDefault": {
            "KMSMasterKeyID": {"Fn::GetAtt": [key_id, "Arn"]},
            "SSEAlgorithm": "aws:kms",
        },
    }
    statement = key_statement(template)
    assert sorted(statement["Action"]) == KEY_ACTIONS
    assert statement["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_without_a_key_the_stores_and_the_grants_are_as_before() -> None:
    for backend in ("dynamodb", "s3"):
        template = template_of(synthesize(backend=backend)[0])
        assert statements(template, "kms:Decrypt") == []
        assert resources(template, "AWS::KMS::Key") == {}
    _, table = only(template_of(synthesize(backend="dynamodb")[0]), "AWS::DynamoDB::GlobalTable")
    assert "SSESpecification" not in table["Properties"]


@pytest.mark.parametrize("store", ["table", "bucket", "redis://cache.internal:6379/0"])
def test_a_key_is_for_the_store_the_construct_creates(store: str) -> None:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test")
    key = kms.Key(stack, "StoreKey", enable_key_rotation=True)
    options: dict[str, Any] = {"backend": store}
    if store == "table":
        options = {"table": dynamodb.TableV2.from_table_name(stack, "Table", "team-table")}
    elif store == "bucket":
        options = {"bucket": s3.Bucket.from_bucket_name(stack, "Bucket", "team-bucket")}
    with pytest.raises(ValueError, match="encryption_key is for the table or bucket the construct creates"):
        WebSocketAsgiApp(stack, "Chat", code=str(CHAT), app="app:app", encryption_key=key, **options)


# --- Browser origins and stored credentials ----------------------------------------------------


def test_allowed_origins_reach_the_runtime_through_its_environment() -> None:
    assert "ASGIWAY_ALLOWED_ORIGINS" not in function_environment(template_of(synthesize()[0]))  # any origin
    stack, _ = synthesize(allowed_origins=["https://chat.example.com", "http://localhost:8000"])
    environment = function_environment(template_of(stack))
    assert environment["ASGIWAY_ALLOWED_ORIGINS"] == "https://chat.example.com,http://localhost:8000"
    stack, _ = synthesize(allowed_origins=[])
    assert function_environment(template_of(stack))["ASGIWAY_ALLOWED_ORIGINS"] == ""  # no browser


def test_the_apps_own_pages_are_allowed_by_their_origin() -> None:
    stack, chat = synthesize(allowed_origins=["https://chat.example.com"])
    chat.allow_origins(chat.http_origin, "https://chat.example.com")
    template = template_of(stack)
    http_api = next(
        name
        for name, api in resources(template, "AWS::ApiGatewayV2::Api").items()
        if api["Properties"]["ProtocolType"] == "HTTP"
    )
    # The API's ApiEndpoint, https://{api}.execute-api.{region}.amazonaws.com: an origin, not a
    # URL (no path, no trailing slash, unlike http_url); each origin once.
    assert function_environment(template)["ASGIWAY_ALLOWED_ORIGINS"] == {
        "Fn::Join": ["", ["https://chat.example.com,", {"Fn::GetAtt": [http_api, "ApiEndpoint"]}]]
    }


def test_an_app_without_pages_has_no_origin_of_its_own() -> None:
    _, chat = synthesize(http_api=False)
    with pytest.raises(ValueError, match="http_api=False"):
        _ = chat.http_origin


@pytest.mark.parametrize(
    ("allowed", "message"),
    [
        (["https://chat.example.com/chat"], "is no origin"),
        (["*"], "is no origin"),
        (["https://*.example.com"], "is no origin"),
        (["chat.example.com"], "is no origin"),
        (["https://a.example,https://b.example"], "is no origin"),
        ("https://chat.example.com", "takes a list of origins"),
    ],
)
def test_what_is_no_origin_is_refused_at_synth(allowed: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synthesize(allowed_origins=allowed)


def test_stored_credentials_reach_the_runtime_through_its_environment() -> None:
    assert "ASGIWAY_STORED_CREDENTIALS" not in function_environment(template_of(synthesize()[0]))
    stack, _ = synthesize(stored_credentials=["token", "Cookie"])
    assert function_environment(template_of(stack))["ASGIWAY_STORED_CREDENTIALS"] == "token,Cookie"


@pytest.mark.parametrize(
    ("names", "message"),
    [(["tokne"], "'tokne' is no credential"), ("token", "takes a list of names")],
)
def test_a_name_no_credential_goes_by_is_refused_at_synth(names: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synthesize(stored_credentials=names)


@pytest.mark.parametrize("variable", ["ASGIWAY_ALLOWED_ORIGINS", "ASGIWAY_STORED_CREDENTIALS"])
def test_the_variables_come_from_the_props_only(variable: str) -> None:
    with pytest.raises(ValueError, match=f"environment: {variable} is set by the construct"):
        synthesize(environment={variable: "x"})


# --- cdk-nag and cfn-lint on all of it ---------------------------------------------------------


@pytest.mark.parametrize("env", [None, ENV], ids=["agnostic", "env"])
@pytest.mark.parametrize("backend", ["dynamodb", "s3"])
def test_cdk_nag_and_cfn_lint_pass_with_a_key_recovery_and_origins(
    tmp_path: Path, backend: str, env: Environment | None
) -> None:
    app = App(outdir=str(tmp_path), context=NO_BUNDLING)
    stack = Stack(app, "Chat", env=env)
    key = kms.Key(stack, "StoreKey", enable_key_rotation=True)
    chat = WebSocketAsgiApp(
        stack,
        "Chat",
        code=str(CHAT),
        app="app:app",
        backend=backend,
        encryption_key=key,
        point_in_time_recovery=backend == "dynamodb",
        allowed_origins=["https://chat.example.com"],
        stored_credentials=["token"],
    )
    chat.allow_origins(chat.http_origin)
    report = nag_report(app, tmp_path)
    rules = {violation["ruleName"] for violation in report["suppressedViolations"]}
    assert any(rule.startswith("AwsSolutions-IAM5[Action::kms:") for rule in rules), rules
    run_cfn_lint(tmp_path / "Chat.template.json")
