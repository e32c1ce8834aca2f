"""What `WebSocketAsgiApp` puts in the template, read with aws_cdk.assertions (no bundling, no account)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cdk_nag
import pytest
from aws_cdk import App, Duration, Stack, Validations, assertions
from aws_cdk import aws_apigatewayv2 as apigateway
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.aws_apigatewayv2_authorizers import WebSocketIamAuthorizer, WebSocketLambdaAuthorizer

from asgiway.backends import dynamodb as runtime_dynamodb
from asgiway.backends import s3 as runtime_s3
from asgiway_cdk import WebSocketAsgiApp
from asgiway_cdk import construct as cdk_construct
from tests.infra.conftest import (
    CHAT,
    NO_BUNDLING,
    function_environment,
    only,
    resources,
    synthesize,
    websocket_api_id,
)

Match = assertions.Match


def test_three_routes_reach_the_function_through_one_proxy_integration(
    dynamodb_template: assertions.Template,
) -> None:
    api_id = websocket_api_id(dynamodb_template)
    routes = [
        route["Properties"]
        for route in resources(dynamodb_template, "AWS::ApiGatewayV2::Route").values()
        if route["Properties"]["ApiId"] == {"Ref": api_id}
    ]
    assert sorted(route["RouteKey"] for route in routes) == ["$connect", "$default", "$disconnect"]
    integrations = {
        name: integration["Properties"]
        for name, integration in resources(dynamodb_template, "AWS::ApiGatewayV2::Integration").items()
        if integration["Properties"]["ApiId"] == {"Ref": api_id}
    }
    ((integration_id, integration),) = integrations.items()
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert {str(route["Target"]) for route in routes} == {
        str({"Fn::Join": ["", ["integrations/", {"Ref": integration_id}]]})
    }
    dynamodb_template.has_resource_properties(
        "AWS::ApiGatewayV2::Api",
        {"ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.action"},
    )
    permissions = resources(dynamodb_template, "AWS::Lambda::Permission")
    principals = {permission["Properties"]["Principal"] for permission in permissions.values()}
    assert principals == {"apigateway.amazonaws.com"}
    source_arns = json.dumps([permission["Properties"]["SourceArn"] for permission in permissions.values()])
    for route_key in ("/*$connect", "/*$disconnect", "/*$default", "/*/*"):
        assert route_key in source_arns, route_key
    assert len(permissions) == 4  # $connect, $disconnect, $default, and the HTTP API's route


def test_the_stage_deploys_itself_and_is_throttled(dynamodb_template: assertions.Template) -> None:
    dynamodb_template.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "prod",
            "AutoDeploy": True,
            "DefaultRouteSettings": {"ThrottlingBurstLimit": 50, "ThrottlingRateLimit": 100},
        },
    )


def test_the_table_has_the_runtimes_key_schema_ttl_and_recovery(
    dynamodb_template: assertions.Template,
) -> None:
    table_id, table = only(dynamodb_template, "AWS::DynamoDB::GlobalTable")
    properties = table["Properties"]
    assert properties["KeySchema"] == [
        {"AttributeName": runtime_dynamodb.PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": runtime_dynamodb.SORT_KEY, "KeyType": "RANGE"},
    ]
    assert properties["BillingMode"] == runtime_dynamodb.BILLING_MODE
    assert properties["TimeToLiveSpecification"] == {
        "AttributeName": runtime_dynamodb.TTL_ATTRIBUTE,
        "Enabled": True,
    }
    # No backups of two-hour records unless asked for (tests/infra/test_security_props.py).
    assert properties["Replicas"][0]["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": False
    }
    assert table["DeletionPolicy"] == "Retain"
    assert function_environment(dynamodb_template)["DSN_URL"] == {
        "Fn::Join": ["", ["dynamodb://", {"Ref": table_id}]]
    }


def test_the_bucket_is_private_ssl_only_encrypted_and_expiring(s3_template: assertions.Template) -> None:
    bucket_id, bucket = only(s3_template, "AWS::S3::Bucket")
    properties = bucket["Properties"]
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    encryption = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    (rule,) = properties["LifecycleConfiguration"]["Rules"]
    assert rule == {"ExpirationInDays": runtime_s3.LIFECYCLE_EXPIRATION_DAYS, "Status": "Enabled"}
    s3_template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )
    assert function_environment(s3_template)["DSN_URL"] == {"Fn::Join": ["", ["s3://", {"Ref": bucket_id}]]}


def test_manage_connections_is_allowed_on_this_apis_stage_only(
    dynamodb_template: assertions.Template,
) -> None:
    api_id = websocket_api_id(dynamodb_template)
    statements = [
        statement
        for policy in resources(dynamodb_template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "execute-api:ManageConnections"
    ]
    (statement,) = statements
    resource = json.dumps(statement["Resource"])
    assert api_id in resource
    assert "/prod/*/@connections/*" in resource


def test_the_function_runs_the_generic_entry_point_on_arm64(dynamodb_template: assertions.Template) -> None:
    _, function = only(dynamodb_template, "AWS::Lambda::Function")
    properties = function["Properties"]
    assert properties["Handler"] == "asgiway.entrypoint.handler"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Runtime"].startswith("python3.")
    assert properties["Timeout"] == 29
    environment = function_environment(dynamodb_template)
    assert environment["ASGIWAY_APP"] == "app:app"
    assert environment["ASGIWAY_WEBSOCKET_PATH"] == "/ws"
    assert "WEBSOCKET_URL" in environment
    dynamodb_template.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def test_the_function_may_invoke_itself_and_nothing_else(dynamodb_template: assertions.Template) -> None:
    function_id, _ = only(dynamodb_template, "AWS::Lambda::Function")
    invoke = [
        statement
        for policy in resources(dynamodb_template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement["Action"] == "lambda:InvokeFunction"
    ]
    # The function itself, and its versions and aliases: CONNECT invokes the ARN Lambda gave it.
    assert invoke == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": [
                {"Fn::GetAtt": [function_id, "Arn"]},
                {"Fn::Join": ["", [{"Fn::GetAtt": [function_id, "Arn"]}, ":*"]]},
            ],
        }
    ]


def test_outputs_name_the_urls_and_the_store(dynamodb_template: assertions.Template) -> None:
    outputs = dynamodb_template.to_json()["Outputs"]
    assert {name.removeprefix("Chat")[:12] for name in outputs} >= {
        "WebSocketUrl",
        "HttpUrl",
        "Store",
    } or all(any(key in name for name in outputs) for key in ("WebSocketUrl", "HttpUrl", "Store"))


def test_an_external_dsn_creates_no_store_and_two_way_replies_add_a_route_response() -> None:
    stack, construct = synthesize(
        backend="redis://cache.example.com:6379", two_way_replies=True, http_api=False
    )
    template = assertions.Template.from_stack(stack)
    template.resource_count_is("AWS::DynamoDB::GlobalTable", 0)
    template.resource_count_is("AWS::S3::Bucket", 0)
    template.has_resource_properties("AWS::ApiGatewayV2::RouteResponse", {"RouteResponseKey": "$default"})
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Route", {"RouteKey": "$default", "RouteResponseSelectionExpression": "$default"}
    )
    assert construct.http_url is None
    assert function_environment(template)["DSN_URL"] == "redis://cache.example.com:6379"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": Duration.seconds(30)}, "29 s"),
        ({"throttling_rate_limit": 0}, "positive"),
        ({"backend": "mysql"}, "backend must be"),
    ],
)
def test_settings_that_cannot_work_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synthesize(**options)


def test_the_constructs_facts_match_the_runtimes() -> None:
    assert (cdk_construct.PARTITION_KEY, cdk_construct.SORT_KEY, cdk_construct.TTL_ATTRIBUTE) == (
        runtime_dynamodb.PARTITION_KEY,
        runtime_dynamodb.SORT_KEY,
        runtime_dynamodb.TTL_ATTRIBUTE,
    )
    assert cdk_construct.BUCKET_EXPIRATION.to_days() == runtime_s3.LIFECYCLE_EXPIRATION_DAYS


def test_an_external_store_in_a_vpc_reads_its_password_from_secrets_manager() -> None:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test")
    vpc = ec2.Vpc(stack, "Network", max_azs=2)
    cache = ec2.SecurityGroup(stack, "CacheClients", vpc=vpc)
    secret = secretsmanager.Secret(stack, "CachePassword")
    WebSocketAsgiApp(
        stack,
        "Chat",
        code=str(CHAT),
        app="app:app",
        backend="rediss://cache.example.com:6379/0",
        dsn_secret=secret,
        vpc=vpc,
        security_groups=[cache],
        two_way_replies=True,
    )
    template = assertions.Template.from_stack(stack)
    secret_id, _ = only(template, "AWS::SecretsManager::Secret")
    environment = function_environment(template)
    assert environment["DSN_URL"] == "rediss://cache.example.com:6379/0"
    assert environment["DSN_PASSWORD_SECRET_ARN"] == {"Ref": secret_id}
    assert environment["ASGIWAY_TWO_WAY_REPLIES"] == "true"
    _, function = only(template, "AWS::Lambda::Function")
    assert "VpcConfig" in function["Properties"]
    role = next(
        role
        for name, role in resources(template, "AWS::IAM::Role").items()
        if name.startswith("ChatFunctionRole")
    )
    assert "AWSLambdaVPCAccessExecutionRole" in json.dumps(role["Properties"]["ManagedPolicyArns"])
    reads = [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "secretsmanager:GetSecretValue" in statement["Action"]
    ]
    assert [statement["Resource"] for statement in reads] == [{"Ref": secret_id}]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"backend": "postgresql://app:s3cret@db.example.com/chat"}, "Secrets Manager"),
        ({"backend": "redis://:s3cret@cache.example.com"}, "Secrets Manager"),
    ],
)
def test_a_password_in_the_dsn_is_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        synthesize(**options)


@pytest.mark.parametrize(
    ("authorizer", "authorization_type"),
    [(lambda stack: WebSocketIamAuthorizer(), "AWS_IAM"), ("lambda", "CUSTOM")],
)
def test_a_connect_authorizer_guards_connect_only_and_passes_cdk_nag(
    tmp_path: Path, authorizer: Any, authorization_type: str
) -> None:
    app = App(outdir=str(tmp_path), context=NO_BUNDLING)
    stack = Stack(app, "Test")
    if authorizer == "lambda":
        check = lambda_.Function(
            stack,
            "Check",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context): return {}"),
        )
        guard: Any = WebSocketLambdaAuthorizer(
            "Tokens", check, identity_source=["route.request.querystring.token"]
        )
    else:
        guard = authorizer(stack)
    chat = WebSocketAsgiApp(stack, "Chat", code=str(CHAT), app="app:app", connect_authorizer=guard)
    template = assertions.Template.from_stack(stack)
    api_id = websocket_api_id(template)
    kinds = {
        route["Properties"]["RouteKey"]: route["Properties"].get("AuthorizationType", "NONE")
        for route in resources(template, "AWS::ApiGatewayV2::Route").values()
        if route["Properties"]["ApiId"] == {"Ref": api_id}
    }
    assert kinds == {"$connect": authorization_type, "$default": "NONE", "$disconnect": "NONE"}
    # The authorizer's own function is the user's; the construct's resources must pass on their own.
    Validations.of(chat).add_plugins(cdk_nag.AwsSolutionsChecks(chat))
    app.synth()


def test_custom_domains_map_both_apis() -> None:
    app = App(context=NO_BUNDLING)
    stack = Stack(app, "Test")
    certificate = acm.Certificate.from_certificate_arn(
        stack, "Certificate", "arn:aws:acm:us-east-1:123456789012:certificate/0f3c1a2b-example"
    )
    WebSocketAsgiApp(
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
    template = assertions.Template.from_stack(stack)
    template.resource_count_is("AWS::ApiGatewayV2::ApiMapping", 2)
