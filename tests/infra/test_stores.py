"""Stores a team already has (a dsn, or an imported table or bucket) get the created store's grants;
a dsn that carries a password never reaches the template (issue 14, items 1 and 2)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack, assertions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager

from asgiway.backends import Dsn
from asgiway_cdk import WebSocketAsgiApp
from asgiway_cdk.construct import DYNAMODB_ACTIONS, S3_BUCKET_ACTIONS, S3_OBJECT_ACTIONS
from tests.infra.conftest import (
    CHAT,
    ENV,
    NO_BUNDLING,
    as_text,
    function_environment,
    resources,
    statements,
    synthesize,
    template_of,
)

#: The deploying guide's example stack (docs/deploying.md includes it).
DEPLOY_EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "deploy_stack.py"


def store_statements(template: assertions.Template) -> dict[str, Any]:
    """The store's statements by their first action: DynamoDB's, S3 objects', S3 bucket's."""
    found = {}
    for statement in statements(template):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if actions[0].startswith(("dynamodb:", "s3:")):
            resource = statement["Resource"]
            if isinstance(resource, list) and len(resource) == 1:
                resource = resource[0]
            found[actions[0]] = {"actions": sorted(actions), "resource": resource}
    return found


def partition_arn(rest: str) -> dict[str, Any]:
    return {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, rest]]}


def test_an_existing_table_named_by_its_dsn_gets_what_a_created_table_gets() -> None:
    created = store_statements(template_of(synthesize(backend="dynamodb")[0]))
    template = template_of(synthesize(ENV, backend="dynamodb://existing-table")[0])
    existing = store_statements(template)
    assert [entry["actions"] for entry in existing.values()] == [
        entry["actions"] for entry in created.values()
    ]
    assert existing["dynamodb:GetItem"]["actions"] == sorted(DYNAMODB_ACTIONS)
    # The table's ARN in the stack's account and region.
    assert existing["dynamodb:GetItem"]["resource"] == partition_arn(
        ":dynamodb:eu-west-1:123456789012:table/existing-table"
    )
    template.resource_count_is("AWS::DynamoDB::GlobalTable", 0)
    template.resource_count_is("AWS::DynamoDB::Table", 0)
    assert function_environment(template)["DSN_URL"] == "dynamodb://existing-table"


def test_an_existing_table_in_the_region_its_dsn_names() -> None:
    template = template_of(synthesize(backend="dynamodb://Chat.Connections?region=eu-central-1")[0])
    resource = store_statements(template)["dynamodb:GetItem"]["resource"]
    # The dsn's region, the stack's account (a token here: the stack names none), the name's case kept.
    assert resource == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":dynamodb:eu-central-1:",
                {"Ref": "AWS::AccountId"},
                ":table/Chat.Connections",
            ],
        ]
    }


def test_an_existing_bucket_named_by_its_dsn_gets_the_object_actions_under_its_prefix() -> None:
    created = store_statements(template_of(synthesize(backend="s3")[0]))
    template = template_of(synthesize(ENV, backend="s3://team-bucket/chat/connections/")[0])
    existing = store_statements(template)
    assert [entry["actions"] for entry in existing.values()] == [
        entry["actions"] for entry in created.values()
    ]
    assert existing["s3:GetObject"] == {
        "actions": sorted(S3_OBJECT_ACTIONS),
        "resource": partition_arn(":s3:::team-bucket/chat/connections/*"),
    }
    # HeadBucket is authorized as s3:ListBucket and carries no prefix: the bucket itself.
    assert existing["s3:ListBucket"] == {
        "actions": list(S3_BUCKET_ACTIONS),
        "resource": partition_arn(":s3:::team-bucket"),
    }
    template.resource_count_is("AWS::S3::Bucket", 0)
    assert function_environment(template)["DSN_URL"] == "s3://team-bucket/chat/connections/"


def test_an_imported_table_is_granted_and_named_in_the_dsn_with_its_own_region() -> None:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test", env=ENV)
    table = dynamodb.Table.from_table_arn(
        stack, "Table", "arn:aws:dynamodb:us-west-2:123456789012:table/shared-connections"
    )
    chat = WebSocketAsgiApp(stack, "Chat", code=str(CHAT), app="app:app", table=table)
    template = template_of(stack)
    assert chat.table is table
    assert store_statements(template)["dynamodb:GetItem"] == {
        "actions": sorted(DYNAMODB_ACTIONS),
        "resource": "arn:aws:dynamodb:us-west-2:123456789012:table/shared-connections",
    }
    assert function_environment(template)["DSN_URL"] == "dynamodb://shared-connections?region=us-west-2"


def test_an_imported_table_v2_in_the_stacks_region_needs_no_region_in_its_dsn() -> None:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test", env=ENV)
    table = dynamodb.TableV2.from_table_name(stack, "Table", "connections")
    WebSocketAsgiApp(stack, "Chat", code=str(CHAT), app="app:app", table=table)
    assert function_environment(template_of(stack))["DSN_URL"] == "dynamodb://connections"


def test_an_imported_bucket_with_a_key_prefix_and_its_kms_key() -> None:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test")
    key = kms.Key.from_key_arn(
        stack, "Key", "arn:aws:kms:eu-west-1:123456789012:key/0f3c1a2b-1111-2222-3333-444455556666"
    )
    bucket = s3.Bucket.from_bucket_attributes(stack, "Bucket", bucket_name="team-bucket", encryption_key=key)
    chat = WebSocketAsgiApp(stack, "Chat", code=str(CHAT), app="app:app", bucket=bucket, key_prefix="chat")
    template = template_of(stack)
    assert chat.bucket is bucket
    assert chat.table is None
    assert function_environment(template)["DSN_URL"] == "s3://team-bucket/chat/"
    assert store_statements(template)["s3:GetObject"]["resource"] == partition_arn(":s3:::team-bucket/chat/*")
    (decrypt,) = statements(template, "kms:Decrypt")
    assert decrypt["Resource"] == key.key_arn


def test_a_created_bucket_takes_a_key_prefix_too() -> None:
    stack, _ = synthesize(backend="s3", key_prefix="apps/chat/")
    template = template_of(stack)
    (bucket_id,) = resources(template, "AWS::S3::Bucket")
    assert function_environment(template)["DSN_URL"] == {
        "Fn::Join": ["", ["s3://", {"Ref": bucket_id}, "/apps/chat/"]]
    }
    assert "/apps/chat/*" in as_text(store_statements(template)["s3:GetObject"]["resource"])


def test_attributes_name_the_store_whichever_way_it_came() -> None:
    _, created = synthesize(backend="s3")
    assert created.bucket is not None
    assert created.table is None
    _, imported = synthesize(backend="dynamodb://existing-table")
    assert imported.table is not None
    assert imported.bucket is None
    _, external = synthesize(backend="redis://cache.example.com:6379")
    assert (external.table, external.bucket, external.store_name) == (None, None, "external")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"backend": "dynamodb://existing-table?create=true"}, "create=true"),
        ({"backend": "s3://team-bucket/?create=1"}, "create=true"),
        ({"backend": "dynamodb", "key_prefix": "chat/"}, "key_prefix is for an S3 store"),
        ({"backend": "s3://team-bucket/chat/", "key_prefix": "chat/"}, "carries its own prefix"),
        ({"backend": "s3", "key_prefix": "a//b"}, "empty, '.' or '..' segment"),
        ({"backend": "dynamodb://x"}, "not a DynamoDB table name"),
        ({"backend": "dynamodb://existing-table", "dsn_secret": "secret"}, "dsn_secret is for an external"),
    ],
)
def test_store_settings_that_cannot_work_are_refused(options: dict[str, Any], message: str) -> None:
    if options.get("dsn_secret") == "secret":
        app = App(context=NO_BUNDLING)
        stack = Stack(app, "Test")
        options["dsn_secret"] = secretsmanager.Secret(stack, "Secret")
        with pytest.raises(ValueError, match=re.escape(message)):
            WebSocketAsgiApp(stack, "Chat", code=str(CHAT), app="app:app", **options)
        return
    with pytest.raises(ValueError, match=re.escape(message)):
        synthesize(**options)


def test_table_and_bucket_must_agree_with_the_backend() -> None:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test")
    table = dynamodb.TableV2.from_table_name(stack, "Table", "connections")
    bucket = s3.Bucket.from_bucket_name(stack, "Bucket", "team-bucket")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"table": table, "bucket": bucket}, "not both"),
        ({"table": table, "backend": "s3"}, "table= is a DynamoDB store"),
        ({"bucket": bucket, "backend": "redis://cache:6379"}, "bucket= is an S3 store"),
    ]
    for options, message in cases:
        with pytest.raises(ValueError, match=message):
            WebSocketAsgiApp(
                stack, f"Chat{len(stack.node.children)}", code=str(CHAT), app="app:app", **options
            )


@pytest.mark.parametrize(
    ("dsn", "password"),
    [
        # The seed's syntax: a lone word before '@' in a redis dsn is the password.
        ("redis://hunter2@cache.example.com", "hunter2"),
        ("redis://default@cache.example.com:6379", "default"),
        ("rediss://:s3cret@cache.example.com", "s3cret"),
        ("redis://app:s3cret@cache.example.com/0", "s3cret"),
        ("postgresql://app:s3cret@db.example.com/chat", "s3cret"),
        ("postgresql://db.example.com/chat?password=s3cret", "s3cret"),
        ("mongodb://app:s3cret@db.example.com/chat", "s3cret"),
    ],
)
def test_a_dsn_that_carries_a_password_is_refused_without_showing_it(dsn: str, password: str) -> None:
    with pytest.raises(ValueError, match="dsn_secret=") as refused:
        synthesize(backend=dsn)
    assert password not in str(refused.value)


def test_a_dsn_with_a_user_name_and_its_password_in_secrets_manager_is_accepted() -> None:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test")
    secret = secretsmanager.Secret(stack, "DatabasePassword")
    WebSocketAsgiApp(
        stack,
        "Chat",
        code=str(CHAT),
        app="app:app",
        backend="postgresql://app@db.example.com:5432/chat",
        dsn_secret=secret,
    )
    environment = function_environment(template_of(stack))
    assert environment["DSN_URL"] == "postgresql://app@db.example.com:5432/chat"
    assert "DSN_PASSWORD_SECRET_ARN" in environment


@pytest.mark.parametrize(
    ("dsn", "accepted"),
    [
        # With the password in the secret, a bare word is the user name: the runtime makes
        # redis://alice:<secret>@host of it (asgiway.secrets.with_password).
        ("redis://alice@cache.example.com:6379", True),
        ("rediss://cache.example.com:6380", True),
        ("redis://alice:s3cret@cache.example.com", False),
        ("postgresql://app:s3cret@db.example.com/chat", False),
    ],
)
def test_with_a_secret_only_a_second_password_is_refused(dsn: str, accepted: bool) -> None:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test")
    secret = secretsmanager.Secret(stack, "StorePassword")

    def build() -> None:
        WebSocketAsgiApp(stack, "Chat", code=str(CHAT), app="app:app", backend=dsn, dsn_secret=secret)

    if accepted:
        build()
        assert function_environment(template_of(stack))["DSN_URL"] == dsn
    else:
        with pytest.raises(ValueError, match="already holds a password") as refused:
            build()
        assert "s3cret" not in str(refused.value)


def test_a_dsn_the_runtime_would_refuse_is_refused_at_synth() -> None:
    with pytest.raises(ValueError, match="backend: dsn 'redis://cache:99999'"):
        synthesize(backend="redis://cache:99999")


def test_the_deploy_guides_example_passes_no_dsn_with_a_password() -> None:
    code = DEPLOY_EXAMPLE.read_text()
    dsns = re.findall(r"\b(?:rediss?|postgresql|postgres)://[^\s\"'`),]+", code)
    assert dsns, "the deploy section shows an external store's dsn"
    for dsn in dsns:
        assert Dsn.parse(dsn).password is None, dsn
