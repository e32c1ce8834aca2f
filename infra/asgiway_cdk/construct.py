"""`WebSocketAsgiApp`: an ASGI app on Lambda behind a WebSocket API (and an HTTP API), with its store.

Secure by default: least-privilege grants (the store, `execute-api:ManageConnections` on this
API's stage only, the function's own invocation for frames sent during CONNECT), a private,
SSL-only, encrypted bucket or a point-in-time-recoverable table, throttled stages with access logs,
and the function's own log group with a retention.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import jsii
from aws_cdk import (
    Acknowledgment,
    AssetHashType,
    BundlingOptions,
    CfnElement,
    CfnOutput,
    DockerImage,
    Duration,
    ILocalBundling,
    RemovalPolicy,
    Stack,
    Validations,
)
from aws_cdk import aws_apigateway as apigateway_v1
from aws_cdk import aws_apigatewayv2 as apigateway
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IConstruct

from asgiway_cdk.bundling import LocalBundler

#: The table layout the runtime's DynamoDB store expects (asgiway.backends.dynamodb).
PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE = "pk", "sk", "ttl"
#: Records expire after API Gateway's 2 h maximum; S3 can only expire whole days.
BUCKET_EXPIRATION = Duration.days(1)
#: The DynamoDB actions the runtime's store uses (asgiway.backends.dynamodb).
DYNAMODB_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:DescribeTable",
)
VPC_ACCESS_POLICY = iam.ManagedPolicy.from_aws_managed_policy_name(
    "service-role/AWSLambdaVPCAccessExecutionRole"
)
#: The newest Lambda Python runtime that CI runs the bundled asset on (tests/infra/test_asset_runtimes.py).
#: python3.14 is selectable with `runtime=`, but no interpreter for it has run the asset here yet.
DEFAULT_RUNTIME = lambda_.Runtime.PYTHON_3_13
#: The runtime's generic handler: ASGIWAY_APP names the app.
ENTRY_POINT = "asgiway.entrypoint.handler"
#: What each access log line records (API Gateway's $context variables).
WEBSOCKET_ACCESS_LOG = {
    "requestId": "$context.requestId",
    "time": "$context.requestTime",
    "eventType": "$context.eventType",
    "routeKey": "$context.routeKey",
    "connectionId": "$context.connectionId",
    "ip": "$context.identity.sourceIp",
    "status": "$context.status",
    "integrationError": "$context.integrationErrorMessage",
}
HTTP_ACCESS_LOG = {
    "requestId": "$context.requestId",
    "time": "$context.requestTime",
    "method": "$context.httpMethod",
    "path": "$context.path",
    "ip": "$context.identity.sourceIp",
    "status": "$context.status",
    "latency": "$context.responseLatency",
    "integrationError": "$context.integrationErrorMessage",
}
#: API Gateway cuts a WebSocket or HTTP integration off at 29 s.
MAX_INTEGRATION_TIMEOUT = Duration.seconds(29)


class WebSocketAsgiApp(Construct):
    """Deploy `app` ("module:attr" inside `code`) as one Lambda function behind API Gateway."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: str,
        app: str,
        websocket_path: str = "/",
        backend: str = "dynamodb",
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        runtime: lambda_.Runtime = DEFAULT_RUNTIME,
        memory_size: int = 512,
        timeout: Duration = MAX_INTEGRATION_TIMEOUT,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        stage_name: str = "prod",
        throttling_rate_limit: int = 100,
        throttling_burst_limit: int = 50,
        route_selection_expression: str = "$request.body.action",
        two_way_replies: bool = False,
        http_api: bool = True,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        environment: dict[str, str] | None = None,
        api_gateway_logging_role: bool = True,
        connect_authorizer: apigateway.IWebSocketRouteAuthorizer | None = None,
        dsn_secret: secretsmanager.ISecret | None = None,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: list[ec2.ISecurityGroup] | None = None,
        websocket_domain: apigateway.IDomainName | None = None,
        http_domain: apigateway.IDomainName | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        if timeout.to_seconds() > MAX_INTEGRATION_TIMEOUT.to_seconds():
            raise ValueError(
                "timeout: API Gateway ends an integration after 29 s; a longer one is never used"
            )
        if throttling_rate_limit <= 0 or throttling_burst_limit <= 0:
            raise ValueError(
                "throttling limits must be positive: zero makes API Gateway reject every request"
            )
        self.table: dynamodb.TableV2 | None = None
        self.bucket: s3.Bucket | None = None
        dsn = self._store(backend, removal_policy)
        if dsn_secret is not None and (self.table is not None or self.bucket is not None):
            raise ValueError("dsn_secret is for an external store's password; DynamoDB and S3 use the role")

        self.log_group = logs.LogGroup(
            self, "FunctionLogs", retention=log_retention, removal_policy=removal_policy
        )
        # A role of its own rather than AWSLambdaBasicExecutionRole: it may write to its log group only.
        role = iam.Role(self, "FunctionRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.log_group.grant_write(role)
        if vpc is not None:
            # Lambda creates the function's network interfaces with its role: CDK adds this policy only
            # to roles it makes itself.
            role.add_managed_policy(VPC_ACCESS_POLICY)
        self.function = lambda_.Function(
            self,
            "Function",
            role=role,
            runtime=runtime,
            architecture=architecture,
            handler=ENTRY_POINT,
            code=_bundled(code, architecture, runtime),
            memory_size=memory_size,
            timeout=timeout,
            log_group=self.log_group,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=security_groups,
            environment={
                "ASGIWAY_APP": app,
                "ASGIWAY_WEBSOCKET_PATH": websocket_path,
                "ASGIWAY_TWO_WAY_REPLIES": "true" if two_way_replies else "false",
                "DSN_URL": dsn,
                **({"DSN_PASSWORD_SECRET_ARN": dsn_secret.secret_arn} if dsn_secret else {}),
                **(environment or {}),
            },
        )
        if dsn_secret is not None:
            dsn_secret.grant_read(self.function)
        self._grant_store()

        integration = integrations.WebSocketLambdaIntegration("Integration", self.function)
        self.web_socket_api = apigateway.WebSocketApi(
            self,
            "WebSocketApi",
            route_selection_expression=route_selection_expression,
            connect_route_options=apigateway.WebSocketRouteOptions(
                integration=integration, authorizer=connect_authorizer
            ),
            disconnect_route_options=apigateway.WebSocketRouteOptions(integration=integration),
            default_route_options=apigateway.WebSocketRouteOptions(
                integration=integration, return_response=two_way_replies
            ),
        )
        throttle = apigateway.ThrottleSettings(
            rate_limit=throttling_rate_limit, burst_limit=throttling_burst_limit
        )
        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=removal_policy
        )
        self.stage = apigateway.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.web_socket_api,
            stage_name=stage_name,
            auto_deploy=True,
            throttle=throttle,
            access_log_settings=AccessLogs(self.access_logs, WEBSOCKET_ACCESS_LOG),
            domain_mapping=_mapping(websocket_domain),
        )
        self.websocket_url = self.stage.url
        self.function.add_environment("WEBSOCKET_URL", self.websocket_url)
        # @connections on this API's stage only: POST, GET and DELETE of any connection id.
        self.stage.grant_management_api_access(self.function)
        # CONNECT hands its frames to an asynchronous invocation of this same function. A policy of
        # its own: the function waits for its role's default policy, which cannot name the function.
        assert self.function.role is not None
        iam.Policy(
            self,
            "InvokeItself",
            roles=[self.function.role],
            statements=[
                iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[self.function.function_arn])
            ],
        )

        self.http_api: apigateway.HttpApi | None = None
        self.http_url: str | None = None
        stages: list[Construct] = [self.stage]
        if http_api:
            self.http_api = apigateway.HttpApi(
                self,
                "HttpApi",
                create_default_stage=False,
                default_integration=integrations.HttpLambdaIntegration("HttpIntegration", self.function),
            )
            http_stage = apigateway.HttpStage(
                self,
                "HttpStage",
                http_api=self.http_api,
                stage_name="$default",
                auto_deploy=True,
                throttle=throttle,
                access_log_settings=AccessLogs(self.access_logs, HTTP_ACCESS_LOG),
                domain_mapping=_mapping(http_domain),
            )
            stages.append(http_stage)
            self.http_url = http_stage.url

        if api_gateway_logging_role:
            # API Gateway writes access logs with one role per account and region, set here.
            logging_role = iam.Role(
                self,
                "ApiGatewayLoggingRole",
                assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
                managed_policies=[
                    iam.ManagedPolicy.from_aws_managed_policy_name(
                        "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                    )
                ],
            )
            # The setting is one per account and region and outlives this stack: so must its role, or
            # `cdk destroy` would break access logging for every other API of the account.
            logging_role.apply_removal_policy(RemovalPolicy.RETAIN)
            account = apigateway_v1.CfnAccount(
                self, "ApiGatewayAccount", cloud_watch_role_arn=logging_role.role_arn
            )
            for stage in stages:
                stage.node.add_dependency(account)

        self._acknowledge(
            stage_name,
            with_connect_authorizer=connect_authorizer is not None,
            in_vpc=vpc is not None,
            default_runtime=runtime.name == DEFAULT_RUNTIME.name,
        )

        CfnOutput(
            self, "WebSocketUrl", value=self.websocket_url, description="Connect WebSocket clients here"
        )
        if self.http_url is not None:
            CfnOutput(self, "HttpUrl", value=self.http_url, description="The app's HTTP routes")
        CfnOutput(self, "Store", value=self.store_name, description="Where connections are kept")

    @property
    def store_name(self) -> str:
        """The table's or bucket's name, or "external" for a store given by its dsn."""
        if self.table is not None:
            return self.table.table_name
        return self.bucket.bucket_name if self.bucket is not None else "external"

    def _acknowledge(
        self, stage_name: str, *, with_connect_authorizer: bool, in_vpc: bool, default_runtime: bool
    ) -> None:
        """cdk-nag's AwsSolutions findings this design accepts, each on its resource, with the reason."""
        stack = Stack.of(self)

        def logical_id(construct: Construct) -> str:
            return str(stack.resolve(stack.get_logical_id(cast(CfnElement, construct.node.default_child))))

        role_policy = self.function.role.node.find_child("DefaultPolicy")  # type: ignore[union-attr]
        api = logical_id(self.web_socket_api)
        _acknowledge(
            role_policy,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:"
            f"<{api}>/{stage_name}/*/@connections/*]",
            "Connection ids exist only at run time; the grant covers @connections of this API's stage only.",
        )
        if self.bucket is not None:
            _acknowledge(
                role_policy,
                f"AwsSolutions-IAM5[Resource::<{logical_id(self.bucket)}.Arn>/*]",
                "Object keys are connection ids and room names known only at run time; this bucket only.",
            )
            _acknowledge(
                self.bucket,
                "AwsSolutions-S1",
                "The bucket holds short-lived connection records written only by this function, which "
                "logs every event; a second bucket for access logs would outlive what it logs.",
            )
        accepted = (
            "API Gateway authorizes a WebSocket connection once, at $connect; this route serves "
            "connections already accepted."
        )
        route_reasons = {"$disconnect": accepted, "$default": accepted}
        if not with_connect_authorizer:
            route_reasons["$connect"] = (
                "Open by default, as a public chat is: the ASGI app sees CONNECT's headers and query "
                "string and may refuse with a 4xx. With connect_authorizer= API Gateway authorizes "
                "instead, and this acknowledgement is not made."
            )
        for route_key, reason in route_reasons.items():
            route = self.web_socket_api.node.find_child(f"{route_key}-Route")
            _acknowledge(route, "AwsSolutions-APIG4", reason)
        if self.http_api is not None:
            _acknowledge(
                self.http_api.node.find_child("DefaultRoute"),
                "AwsSolutions-APIG4",
                "The HTTP API serves the app's own pages and routes, public ones included; the app "
                "authenticates what it must (an API Gateway authorizer would apply to every path).",
            )
        if in_vpc:
            _acknowledge(
                self.function.role,  # type: ignore[arg-type]
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaVPCAccessExecutionRole]",
                "The policy AWS documents for a function in a VPC: Lambda manages its network "
                "interfaces with the function's role.",
            )
        if default_runtime:
            _acknowledge(
                self.function,
                "AwsSolutions-L1",
                f"{DEFAULT_RUNTIME.name} is the newest Lambda Python runtime that asgiway's CI runs the "
                "bundled function on; a newer one is selectable with runtime= once it is tested.",
            )
        logging_role = self.node.try_find_child("ApiGatewayLoggingRole")
        if logging_role is not None:
            _acknowledge(
                logging_role,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs]",
                "The policy AWS documents for API Gateway's account-wide logging role; switch "
                "api_gateway_logging_role off where the account already has one.",
            )

    def _store(self, backend: str, removal_policy: RemovalPolicy) -> str:
        """Create the store `backend` names and return its dsn; an external dsn is returned as given."""
        if backend == "dynamodb":
            self.table = dynamodb.TableV2(
                self,
                "Connections",
                partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
                billing=dynamodb.Billing.on_demand(),
                time_to_live_attribute=TTL_ATTRIBUTE,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                removal_policy=removal_policy,
            )
            return f"dynamodb://{self.table.table_name}"
        if backend == "s3":
            self.bucket = s3.Bucket(
                self,
                "Connections",
                block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
                encryption=s3.BucketEncryption.S3_MANAGED,
                enforce_ssl=True,
                versioned=False,
                lifecycle_rules=[s3.LifecycleRule(expiration=BUCKET_EXPIRATION)],
                removal_policy=removal_policy,
                auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
            )
            return f"s3://{self.bucket.bucket_name}"
        if _has_password(backend):
            raise ValueError(
                "backend: the dsn holds a password, which would sit in plain text in the function's "
                "environment; keep it in Secrets Manager and pass dsn_secret="
            )
        if "://" not in backend:
            raise ValueError(
                f"backend must be 'dynamodb', 's3' or a dsn such as redis://host, got {backend!r}"
            )
        return backend

    def _grant_store(self) -> None:
        if self.table is not None:
            # Exactly what the runtime's DynamoDB store calls (creating the table is the construct's job).
            self.table.grant(self.function, *DYNAMODB_ACTIONS)
        if self.bucket is not None:
            # Exactly what the runtime's S3 store calls: get/put/delete objects, list and head the bucket.
            self.function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    resources=[self.bucket.arn_for_objects("*")],
                )
            )
            self.function.add_to_role_policy(
                iam.PolicyStatement(actions=["s3:ListBucket"], resources=[self.bucket.bucket_arn])
            )


def _mapping(domain: apigateway.IDomainName | None) -> apigateway.DomainMappingOptions | None:
    return apigateway.DomainMappingOptions(domain_name=domain) if domain is not None else None


def _has_password(dsn: str) -> bool:
    authority = dsn.partition("://")[2].split("/", 1)[0]
    return ":" in authority.rpartition("@")[0]


def _acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))


def _bundled(code: str, architecture: lambda_.Architecture, runtime: lambda_.Runtime) -> lambda_.Code:
    """The asset, bundled on this machine (no Docker), hashed on every input that shapes it."""
    bundler = LocalBundler(
        Path(code).resolve(),
        architecture=architecture.name,
        python_version=runtime.name.removeprefix("python"),
    )
    return lambda_.Code.from_asset(
        str(bundler.code),
        asset_hash=bundler.asset_hash(),
        asset_hash_type=AssetHashType.CUSTOM,
        bundling=BundlingOptions(
            # Never pulled: the local bundler always succeeds, so CDK never falls back to Docker.
            image=DockerImage.from_registry(f"public.ecr.aws/sam/build-{runtime.name}"),
            # jsii hands try_bundle its options as one struct, not as the keywords the stubs show.
            local=cast(ILocalBundling, bundler),
        ),
    )


@jsii.implements(apigateway.IAccessLogSettings)
class AccessLogs:
    """A stage's access logs: JSON lines of `fields` in `log_group`."""

    def __init__(self, log_group: logs.ILogGroup, fields: dict[str, str]) -> None:
        self._destination = apigateway.LogGroupLogDestination(log_group)
        self._format = apigateway_v1.AccessLogFormat.custom(json.dumps(fields))

    @property
    def destination(self) -> apigateway.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigateway_v1.AccessLogFormat:
        return self._format
