"""`WebSocketAsgiApp`: an ASGI app on Lambda behind a WebSocket API (and an HTTP API), with its store.

Secure by default: least-privilege grants (the store's own actions, `execute-api:ManageConnections`
on this API's stage only, the function's own invocation for frames sent during CONNECT), a private,
SSL-only, encrypted bucket or a table that keeps no backups of its two-hour records (point-in-time
recovery and a customer-managed KMS key on request), a dsn with a password refused, throttled
stages, bounded asynchronous invocations, the function's own log group with a retention, and no
account-wide setting touched unless asked for (`cloud_watch_role=True`). Browser origins allowed to
connect (`allowed_origins`, `allow_origins()`) and credentials the store may keep
(`stored_credentials`) reach the runtime through its environment.

The full list of props, their defaults and the reason for each is the docstring of
`WebSocketAsgiApp.__init__` (and docs/construct.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import jsii
from aws_cdk import (
    Acknowledgment,
    Arn,
    ArnFormat,
    AssetHashType,
    BundlingOptions,
    CfnOutput,
    CfnResource,
    DockerImage,
    Duration,
    ILocalBundling,
    RemovalPolicy,
    Stack,
    Token,
    Validations,
)
from aws_cdk import aws_apigateway as apigateway_v1
from aws_cdk import aws_apigatewayv2 as apigateway
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct, IConstruct

from asgiway import ConfigurationError
from asgiway.backends import Dsn
from asgiway.entrypoint import parse_stored_credentials
from asgiway.origins import normalized_origin
from asgiway.secrets import with_password
from asgiway_cdk.bundling import LocalBundler

#: The table layout the runtime's DynamoDB store expects (asgiway.backends.dynamodb).
PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE = "pk", "sk", "ttl"
#: Records expire after API Gateway's 2 h maximum; S3 can only expire whole days.
BUCKET_EXPIRATION = Duration.days(1)
#: With `point_in_time_recovery=True`, the days of history kept. DynamoDB keeps 35 unless told
#: (RecoveryPeriodInDays, 1 to 35, https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-dynamodb-globaltable-pointintimerecoveryspecification.html);
#: a record lives 2 h 10 min, so a day of history holds every record that can still matter, and
#: a restorable copy of what a record held is gone after one day instead of five weeks.
RECOVERY_PERIOD_DAYS = 1
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
#: The S3 actions the runtime's store uses on objects (GetObject, PutObject, DeleteObject and
#: DeleteObjects, which S3 authorizes as s3:DeleteObject on each key)...
S3_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:DeleteObject")
#: ...and on the bucket: ListObjectsV2, and HeadBucket, which S3 authorizes as s3:ListBucket
#: (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html).
S3_BUCKET_ACTIONS = ("s3:ListBucket",)
VPC_ACCESS_POLICY = iam.ManagedPolicy.from_aws_managed_policy_name(
    "service-role/AWSLambdaVPCAccessExecutionRole"
)
#: The newest Lambda Python runtime that CI runs the bundled asset on (tests/infra/test_asset_runtimes.py).
#: python3.14 is selectable with `runtime=`, but no interpreter for it has run the asset here yet.
DEFAULT_RUNTIME = lambda_.Runtime.PYTHON_3_13
#: The runtime's generic handler: ASGIWAY_APP names the app.
ENTRY_POINT = "asgiway.entrypoint.handler"
#: The environment variables the construct sets itself; `environment=` may not override them.
MANAGED_VARIABLES = (
    "ASGIWAY_APP",
    "ASGIWAY_WEBSOCKET_PATH",
    "ASGIWAY_TWO_WAY_REPLIES",
    "DSN_URL",
    "DSN_PASSWORD_SECRET_ARN",
    "WEBSOCKET_URL",
    "ASGIWAY_ALLOWED_ORIGINS",
    "ASGIWAY_STORED_CREDENTIALS",
)
#: The routes every WebSocket API of this construct has (API Gateway's predefined route keys).
PREDEFINED_ROUTES = ("$connect", "$disconnect", "$default")
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
#: Asynchronous invocations (frames sent during CONNECT, fan-out shards): Lambda's own defaults are
#: 2 retries and 6 hours in its queue (AWS::Lambda::EventInvokeConfig,
#: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-lambda-eventinvokeconfig.html).
#: A frame delivered hours late is worse than none; a retry after an error posts again the frames
#: that did get through (a delivery already waits out API Gateway's 410s itself).
DEFAULT_ASYNC_MAX_EVENT_AGE = Duration.minutes(5)
DEFAULT_ASYNC_RETRY_ATTEMPTS = 0
#: Lambda's floor for an event's age is 60 s; the construct's ceiling is 15 minutes
#: (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-configuring.html).
MIN_ASYNC_EVENT_AGE, MAX_ASYNC_EVENT_AGE = Duration.seconds(60), Duration.minutes(15)
MAX_ASYNC_RETRY_ATTEMPTS = 2
#: API Gateway's execution log levels for a WebSocket stage (RouteSettings.LoggingLevel,
#: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-apigatewayv2-stage-routesettings.html).
EXECUTION_LOGGING_LEVELS = ("OFF", "ERROR", "INFO")
#: The construct, under the stack, that holds the account's API Gateway CloudWatch role when
#: `cloud_watch_role=True`: one per stack, however many apps ask for it.
ACCOUNT_LOGGING_ID = "AsgiwayApiGatewayCloudWatch"
#: CloudFormation's limit on an API's name is generous, but a name should stay readable.
MAX_API_NAME_LENGTH = 128

#: Why each wildcard the construct's own grants carry is acceptable: cdk-nag's AwsSolutions-IAM5
#: is acknowledged for a wildcard resource only when every action of its statement is listed here.
WILDCARD_REASONS = {
    "execute-api:ManageConnections": (
        "Connection ids exist only at run time; the grant covers @connections of this API's stage only."
    ),
    **dict.fromkeys(
        S3_OBJECT_ACTIONS,
        "Object keys are connection ids and room names known only at run time; this bucket (and "
        "key prefix) only.",
    ),
    **dict.fromkeys(
        DYNAMODB_ACTIONS,
        "The runtime's own actions on this table and, where CDK's grant adds them, its indexes only.",
    ),
    "lambda:InvokeFunction": (
        "Lambda may be invoked through a version or alias: the grant covers that one function's "
        "qualified ARNs (`<arn>:*`), for frames sent during CONNECT and the on_failure destination."
    ),
    **dict.fromkeys(
        ("xray:PutTraceSegments", "xray:PutTelemetryRecords"),
        "X-Ray's trace-upload actions support no resource-level permissions: AWS documents "
        "Resource * for active tracing.",
    ),
    **dict.fromkeys(
        ("kms:Decrypt", "kms:Encrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"),
        "CDK's encrypt/decrypt grant on the store's own customer-managed key: these KMS actions "
        "come in families, on that one key only.",
    ),
}


class WebSocketAsgiApp(Construct):
    """An ASGI app ("module:attr" inside `code`) as one Lambda function behind API Gateway.

    It creates the function (bundled on this machine, no Docker), a WebSocket API whose
    `$connect`, `$default`, `$disconnect` and custom routes all reach it, an auto-deployed stage,
    an HTTP API for the app's HTTP routes, the connection store (a DynamoDB table or an S3 bucket,
    or grants on one you already have), and the least-privilege role that ties them together.

    Everything it creates is an attribute, so it can be granted to and wired further:
    `function`, `role`, `log_group`, `web_socket_api`, `stage`, `http_api`, `http_stage`,
    `access_log_group`, `table`, `bucket`, `event_invoke_config`, `routes`, `cloud_watch_role`;
    and the URLs: `websocket_url`, `connections_url`, `http_url`, `websocket_custom_url`,
    `http_custom_url`. Each URL is also a stack output. `http_origin` is the origin of the app's
    own pages, for `allow_origins()`.

    Example::

        chat = WebSocketAsgiApp(
            stack, "Chat", code="examples/chat", app="app:app", websocket_path="/ws",
            routes=["sendmessage"], two_way_replies=["sendmessage"],
        )
        chat.grant_manage_connections(scheduled_job)  # reach clients from another function
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: str,
        app: str,
        websocket_path: str = "/",
        backend: str | None = None,
        table: dynamodb.ITableV2 | dynamodb.ITable | None = None,
        bucket: s3.IBucket | None = None,
        key_prefix: str = "",
        dsn_secret: secretsmanager.ISecret | None = None,
        removal_policy: RemovalPolicy = RemovalPolicy.RETAIN,
        point_in_time_recovery: bool = False,
        encryption_key: kms.IKey | None = None,
        routes: Sequence[str] = (),
        two_way_replies: bool | Sequence[str] = False,
        route_selection_expression: str = "$request.body.action",
        connect_authorizer: apigateway.IWebSocketRouteAuthorizer | None = None,
        allowed_origins: Sequence[str] | None = None,
        stored_credentials: Sequence[str] = (),
        http_api: bool = True,
        architecture: lambda_.Architecture = lambda_.Architecture.ARM_64,
        runtime: lambda_.Runtime = DEFAULT_RUNTIME,
        memory_size: int = 512,
        timeout: Duration = MAX_INTEGRATION_TIMEOUT,
        reserved_concurrent_executions: int | None = None,
        environment: Mapping[str, str] | None = None,
        tracing: lambda_.Tracing = lambda_.Tracing.DISABLED,
        application_log_level: lambda_.ApplicationLogLevel = lambda_.ApplicationLogLevel.INFO,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        async_max_event_age: Duration = DEFAULT_ASYNC_MAX_EVENT_AGE,
        async_retry_attempts: int = DEFAULT_ASYNC_RETRY_ATTEMPTS,
        on_failure: lambda_.IDestination | None = None,
        stage_name: str = "prod",
        throttling_rate_limit: int = 100,
        throttling_burst_limit: int = 50,
        detailed_metrics: bool = False,
        websocket_logging: bool | None = None,
        execution_logging_level: str | None = None,
        cloud_watch_role: bool = False,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: Sequence[ec2.ISecurityGroup] | None = None,
        websocket_domain: apigateway.IDomainName | None = None,
        http_domain: apigateway.IDomainName | None = None,
    ) -> None:
        """Create the app. Every prop but `code` and `app` has a default; each says why.

        The app:
            code: The folder holding the app and its `requirements.txt` (installed for the
                function's platform by pip; pin them). Required.
            app: The ASGI app, "module:attr" inside `code` (ASGIWAY_APP). Required.
            websocket_path: Where the app mounts its WebSocket route. Default "/": API Gateway's
                WebSocket events carry no path, so the adapter must be told.

        The store (one of three ways):
            backend: "dynamodb" (a table created here), "s3" (a bucket created here), or the dsn
                of a store you run: `dynamodb://table[?region=..]` and `s3://bucket/prefix/`
                get exactly the grants a created store gets, on that table (in the stack's
                account, in the dsn's region or else the stack's) or that bucket and prefix;
                `redis://host`, `postgresql://user@host/db` and others get network access only
                (`vpc=`). A dsn holding a password is refused, by the runtime's own dsn parser
                (`redis://word@host` is the password "word"): the environment and the template
                would show it; use `dsn_secret=`. `create=true` is refused: the construct creates
                stores, the role never may. Default: "dynamodb", or what `table`/`bucket` says;
                on-demand DynamoDB costs nothing idle and needs no VPC.
            table: A table you already have (`dynamodb.TableV2.from_table_name(...)` or any
                `ITable`), with the runtime's `pk`/`sk` string keys and TTL on `ttl`. Granted
                the runtime's actions (and its KMS key, if it has one). Default: none.
            bucket: A bucket you already have (`s3.Bucket.from_bucket_name(...)`). Granted
                the runtime's object actions under `key_prefix` and s3:ListBucket on the bucket
                (HeadBucket needs it, and it carries no prefix). Set a lifecycle rule expiring
                the records yourself: only a created bucket gets one. Default: none.
            key_prefix: The key prefix for an S3 store, created or given (`s3://` dsns carry
                their own). Default "": the bucket is the app's alone.
            dsn_secret: A Secrets Manager secret holding an external store's password (plain
                text, or JSON with a `password` key), read when the function starts. The role
                may read that secret only. Default: none.
            removal_policy: For the created table or bucket and the log groups. Default RETAIN:
                a `cdk destroy` must not delete what you may still need; DESTROY also empties
                a created bucket (auto_delete_objects).
            point_in_time_recovery: Continuous backups of the created table, kept one day.
                Default False: a record lives 2 h 10 min, so there is little to restore, while
                DynamoDB's default 35 days of history would keep a restorable copy of every
                record (the app's per-connection state, and the credentials `stored_credentials`
                names) five weeks after the record itself expired.
            encryption_key: A customer-managed KMS key (`kms.Key`, or one imported) for the
                created table (CUSTOMER_MANAGED encryption) or bucket (SSE-KMS, with an S3
                Bucket Key); the function is granted encrypt and decrypt on it, and the key's
                own policy decides who else may read the store. Default: none, AWS-owned
                encryption (DynamoDB) and SSE-S3 (the bucket). A table or bucket you give keeps
                its own key, and is granted it.

        Routes:
            routes: Custom route keys, beside `$connect`, `$default` and `$disconnect`, each on
                the same Lambda proxy integration (e.g. ["sendmessage"] with the default
                selection expression routes `{"action": "sendmessage", ...}` there). The app
                sees the key as `scope["asgiway.route"]`. More with `add_route()`. Default: none.
            two_way_replies: Which routes return the app's reply as the route's response
                (a route response), instead of a post to @connections: True for `$default`, or
                a list of route keys. Sets ASGIWAY_TWO_WAY_REPLIES for the runtime. Default
                False: every reply is a post, which works for any route.
            route_selection_expression: How API Gateway picks a route from a message. Default
                "$request.body.action", API Gateway's usual one.
            connect_authorizer: A `WebSocketLambdaAuthorizer` (REQUEST) or
                `WebSocketIamAuthorizer` on `$connect`, API Gateway's only authorization point
                for a WebSocket; its context reaches the app as `scope["aws.authorizer"]`.
                Default: none, an open endpoint (the app may still refuse a CONNECT).
            http_api: Also create an HTTP API sending every path to the same function. Default
                True: the app's pages (the chat's) need it.

        Browsers and credentials:
            allowed_origins: The browser origins allowed to CONNECT, as browsers send them
                (`https://chat.example.com`, no path, no trailing slash; tokens allowed). A
                CONNECT whose `Origin` is another is refused with 403 before the app runs,
                which stops other sites' pages from using your users' cookies (cross-site
                WebSocket hijacking); clients that send no `Origin` (servers, mobile apps) pass,
                for the app's own checks. More with `allow_origins()`, such as this app's own
                page (`http_origin`). Sets ASGIWAY_ALLOWED_ORIGINS. Default None: any origin;
                an empty list lets no browser in.
            stored_credentials: Credential headers (`authorization`, `cookie`, ...) and query
                parameters (`token`, ...) whose values the store keeps for later events, for an
                app that checks a credential again at every event. Sets
                ASGIWAY_STORED_CREDENTIALS. Default: none; later events see the names with
                "asgiway:not-stored" for values. Check at $connect and keep the identity in the
                connection's state instead, if you can.

        The function:
            architecture: Default ARM_64 (Graviton): cheaper per GB-second than x86_64; the
                asset's wheels are fetched for whichever is chosen.
            runtime: Default python3.13, the newest Lambda Python runtime CI runs the bundled
                asset on (python3.14 deploys, untested here).
            memory_size: MB. Default 512: Lambda's CPU grows with memory; cold starts of a
                Starlette app stay short there while the cost per event stays small.
            timeout: Default 29 s, API Gateway's integration limit; a longer one is refused since
                it would never be used.
            reserved_concurrent_executions: Concurrency reserved (and capped) for the function.
                Default none: it shares the account's pool; set it to protect a store or a
                budget (each CONNECT with frames and each fan-out shard is one more invocation).
            environment: More environment variables; the construct's own ones (ASGIWAY_APP,
                DSN_URL, ...) cannot be overridden here. Default: none.
            tracing: X-Ray tracing. Default DISABLED: X-Ray charges per trace; ACTIVE traces
                every invocation, PASS_THROUGH only those an upstream sampled.
            application_log_level: The level below which Lambda drops the app's log records.
                Logs are always Lambda's JSON format, so CloudWatch Logs Insights can query
                them and this level applies. Default INFO, Lambda's own.
            log_retention: The function's log group and the access log group. Default one month.
            vpc, vpc_subnets, security_groups: Run in a VPC, to reach an external store. The role
                gets AWS's VPC access policy. Default: no VPC (reaching @connections, Lambda and
                Secrets Manager from one then needs a NAT gateway or interface endpoints).

        Asynchronous invocations (frames sent during CONNECT, fan-out shards):
            async_max_event_age: How long Lambda keeps such an event queued (while throttled)
                before dropping it. 60 s to 15 min. Default 5 min: a frame delivered later than
                that lands in a conversation that has moved on; Lambda's own 6 h is worse than none.
            async_retry_attempts: Retries after the function fails such an event, 0 to 2.
                Default 0: a retry posts again the frames that did get through.
            on_failure: Where Lambda sends such an event after its last try or when it is too
                old (an SQS queue, SNS topic, EventBridge bus or function destination). Default:
                none, the event is dropped (the function's log says why).

        Stages:
            stage_name: The WebSocket stage, the last part of its URLs. Default "prod".
            throttling_rate_limit, throttling_burst_limit: Requests per second and burst for both
                stages. Default 100/s and 50: a runaway client cannot run up the bill; zero is
                refused, since API Gateway would reject everything.
            detailed_metrics: Per-route CloudWatch metrics on both stages. Default False:
                CloudWatch charges for each metric.
            websocket_logging: The WebSocket stage's JSON access logs (in `access_log_group`)
                and its execution logs. API Gateway writes WebSocket logs with the account's
                CloudWatch role, and a stage with logging on fails to deploy in an account and
                region that has none ("CloudWatch Logs role ARN must be set in account settings
                to enable logging"). Default: on with `cloud_watch_role=True`, else off; set
                True where the account has the role (`aws apigateway get-account`). The HTTP
                stage's access logs are always on: HTTP APIs need no such role.
            execution_logging_level: "ERROR" or "INFO" (or "OFF") for the WebSocket stage's
                execution logs; only with `websocket_logging`. Default "ERROR": failures, and no
                message data.
            cloud_watch_role: Set API Gateway's CloudWatch role for this account and region from
                this stack: an IAM role with AmazonAPIGatewayPushToCloudWatchLogs and an
                `AWS::ApiGateway::Account`, one per stack however many apps ask, the role kept on
                `cdk destroy` (the setting outlives the stack, and other APIs log through it).
                Default False: it is an account-wide setting, which overwrites whatever role the
                account had; let one stack own it (this one, with True, or a landing zone).

        Custom domains:
            websocket_domain, http_domain: An `apigatewayv2.DomainName` to map each API's stage
                to; the outputs then show the custom URLs too. Default: none.
        """
        super().__init__(scope, construct_id)
        _check_settings(
            timeout=timeout,
            throttling_rate_limit=throttling_rate_limit,
            throttling_burst_limit=throttling_burst_limit,
            reserved_concurrent_executions=reserved_concurrent_executions,
            async_max_event_age=async_max_event_age,
            async_retry_attempts=async_retry_attempts,
            environment=environment or {},
        )
        logging_on = cloud_watch_role if websocket_logging is None else websocket_logging
        execution_level = _execution_logging_level(execution_logging_level, logging_on=logging_on)
        self._routes_two_way = _two_way_routes(two_way_replies, routes)
        stack = Stack.of(self)

        # The store: created, given, or named by a dsn.
        self.table: dynamodb.ITableV2 | dynamodb.ITable | None = None
        self.bucket: s3.IBucket | None = None
        self._store_created = False
        self._key_prefix = ""
        dsn = self._store(
            backend,
            table,
            bucket,
            key_prefix,
            removal_policy,
            with_secret=dsn_secret is not None,
            point_in_time_recovery=point_in_time_recovery,
            encryption_key=encryption_key,
        )
        if dsn_secret is not None and (self.table is not None or self.bucket is not None):
            raise ValueError("dsn_secret is for an external store's password; DynamoDB and S3 use the role")

        self.log_group = logs.LogGroup(
            self, "FunctionLogs", retention=log_retention, removal_policy=removal_policy
        )
        # A role of its own rather than AWSLambdaBasicExecutionRole: it may write to its log group only.
        self.role = iam.Role(self, "FunctionRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.log_group.grant_write(self.role)
        if vpc is not None:
            # Lambda creates the function's network interfaces with its role: CDK adds this policy only
            # to roles it makes itself.
            self.role.add_managed_policy(VPC_ACCESS_POLICY)
        self.function = lambda_.Function(
            self,
            "Function",
            role=self.role,
            runtime=runtime,
            architecture=architecture,
            handler=ENTRY_POINT,
            code=_bundled(code, architecture, runtime),
            memory_size=memory_size,
            timeout=timeout,
            reserved_concurrent_executions=reserved_concurrent_executions,
            tracing=tracing,
            log_group=self.log_group,
            # Log-level filtering needs the JSON format; the Python runtime formats the logging
            # module's records itself (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=application_log_level,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=list(security_groups) if security_groups is not None else None,
            environment={
                "ASGIWAY_APP": app,
                "ASGIWAY_WEBSOCKET_PATH": websocket_path,
                "DSN_URL": dsn,
                **({"DSN_PASSWORD_SECRET_ARN": dsn_secret.secret_arn} if dsn_secret else {}),
                **(environment or {}),
            },
        )
        self._set_two_way_replies()
        self._allowed_origins: list[str] | None = None
        self._set_browsers_and_credentials(allowed_origins, stored_credentials)
        if dsn_secret is not None:
            dsn_secret.grant_read(self.function)
        self._grant_store()
        # Asynchronous invocations of this function, bounded (DEFAULT_ASYNC_MAX_EVENT_AGE says why).
        self.function.configure_async_invoke(
            max_event_age=async_max_event_age, retry_attempts=async_retry_attempts, on_failure=on_failure
        )
        self.event_invoke_config = cast(
            lambda_.EventInvokeConfig, self.function.node.find_child("EventInvokeConfig")
        )

        self.routes: dict[str, apigateway.WebSocketRoute] = {}
        self._create_websocket_api(route_selection_expression, connect_authorizer, routes)

        throttle = apigateway.ThrottleSettings(
            rate_limit=throttling_rate_limit, burst_limit=throttling_burst_limit
        )
        self.access_log_group: logs.LogGroup | None = None
        if http_api or logging_on:
            self.access_log_group = logs.LogGroup(
                self, "AccessLogs", retention=log_retention, removal_policy=removal_policy
            )
        self.stage = self._websocket_stage(
            stage_name,
            throttle,
            detailed_metrics=detailed_metrics,
            logging_on=logging_on,
            execution_level=execution_level,
            domain=websocket_domain,
        )
        self._wire_stage()

        self.http_api: apigateway.HttpApi | None = None
        self.http_stage: apigateway.HttpStage | None = None
        self.http_url: str | None = None
        if http_api:
            self._create_http_api(throttle, detailed_metrics=detailed_metrics, domain=http_domain)

        self.cloud_watch_role: iam.IRole | None = None
        if cloud_watch_role:
            self.cloud_watch_role, account = _account_cloud_watch_role(stack)
            # The stage's logs need the account's role set before the stage is created.
            self.stage.node.add_dependency(account)

        self.websocket_custom_url = f"wss://{websocket_domain.name}" if websocket_domain is not None else None
        self.http_custom_url = f"https://{http_domain.name}" if http_domain is not None else None

        self._acknowledge(
            with_connect_authorizer=connect_authorizer is not None,
            in_vpc=vpc is not None,
            default_runtime=runtime.name == DEFAULT_RUNTIME.name,
            websocket_logging=logging_on,
        )
        self._outputs()

    # Public methods.

    def add_route(self, route_key: str, *, two_way_reply: bool = False) -> apigateway.WebSocketRoute:
        """Route `route_key` to the app too (the same Lambda proxy integration); returns the route.

        With `two_way_reply`, API Gateway returns the app's reply as the route's response (a route
        response keyed `$default`, the only key WebSocket APIs allow,
        https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-route-response.html),
        and the runtime is told so through ASGIWAY_TWO_WAY_REPLIES.
        """
        if not route_key or route_key in PREDEFINED_ROUTES:
            raise ValueError(
                f"route key {route_key!r}: give a custom one; {', '.join(PREDEFINED_ROUTES)} always exist"
            )
        if route_key in self.routes:
            raise ValueError(f"route key {route_key!r} is routed already")
        route = self.web_socket_api.add_route(
            route_key, integration=self._integration, return_response=two_way_reply
        )
        self.routes[route_key] = route
        if two_way_reply and route_key not in self._routes_two_way:
            self._routes_two_way.append(route_key)
        self._set_two_way_replies()
        _acknowledge(
            route,
            "AwsSolutions-APIG4",
            "API Gateway authorizes a WebSocket connection once, at $connect; this route serves "
            "connections already accepted.",
        )
        return route

    def allow_origins(self, *origins: str) -> None:
        """Let browsers CONNECT from `origins` too (ASGIWAY_ALLOWED_ORIGINS): a CONNECT whose
        `Origin` is not listed is refused with 403 before the app runs.

        Each origin as browsers send it, `scheme://host[:port]`; tokens are fine, such as this
        app's own pages, which are not known before the construct exists:
        `chat.allow_origins(chat.http_origin)`.
        """
        for origin in origins:
            # The runtime compares origins whole, and reads the variable's commas as separators.
            unreadable = any(char in origin for char in ",*") or normalized_origin(origin) is None
            if unreadable and not Token.is_unresolved(origin):
                raise ValueError(
                    f"allowed_origins: {origin!r} is no origin; write each as browsers send it, "
                    "scheme://host[:port] with no path or wildcard, e.g. 'https://chat.example.com'"
                )
        self._allowed_origins = list(dict.fromkeys([*(self._allowed_origins or []), *origins]))
        self.function.add_environment("ASGIWAY_ALLOWED_ORIGINS", ",".join(self._allowed_origins))

    def grant_manage_connections(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let `grantee` (a scheduled job, a queue consumer) reach this app's clients.

        `execute-api:ManageConnections` on this API's stage only, like the function's own grant:
        POST, GET and DELETE of `@connections/{id}` at `connections_url`. The wildcard over
        connection ids is acknowledged for cdk-nag on the grantee's policy, with the reason.
        """
        grant = self.stage.grant_management_api_access(grantee)
        principal = grantee.grant_principal
        if isinstance(principal, Construct) and grant.principal_statement is not None:
            stack = Stack.of(principal)
            statement = stack.resolve(grant.principal_statement.to_statement_json())
            for finding in _wildcard_findings(statement):
                _acknowledge(principal, finding, WILDCARD_REASONS["execute-api:ManageConnections"])
        return grant

    @property
    def http_origin(self) -> str:
        """`https://{api}.execute-api.{region}.amazonaws.com`: the origin browsers send from the
        app's own pages on its HTTP API, for `allow_origins()`. The API's `ApiEndpoint` attribute,
        which has no path and no trailing slash, as an origin has none
        (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigatewayv2-api.html)."""
        if self.http_api is None:
            raise ValueError("http_origin: with http_api=False the app serves no pages of its own")
        return self.http_api.api_endpoint

    @property
    def store_name(self) -> str:
        """The table's or bucket's name, or "external" for a store the runtime reaches by its dsn."""
        if self.table is not None:
            return self.table.table_name
        return self.bucket.bucket_name if self.bucket is not None else "external"

    # The store.

    def _store(
        self,
        backend: str | None,
        table: dynamodb.ITableV2 | dynamodb.ITable | None,
        bucket: s3.IBucket | None,
        key_prefix: str,
        removal_policy: RemovalPolicy,
        *,
        with_secret: bool,
        point_in_time_recovery: bool,
        encryption_key: kms.IKey | None,
    ) -> str:
        """Create, adopt or import the store; return the dsn the runtime gets as DSN_URL."""
        self._point_in_time_recovery = point_in_time_recovery
        self._encryption_key = encryption_key
        if table is not None and bucket is not None:
            raise ValueError("give table= or bucket=, not both: the app has one store")
        if table is not None and backend not in (None, "dynamodb"):
            raise ValueError(f"table= is a DynamoDB store; backend={backend!r} names another")
        if bucket is not None and backend not in (None, "s3"):
            raise ValueError(f"bucket= is an S3 store; backend={backend!r} names another")
        kind = backend or ("s3" if bucket is not None else "dynamodb")
        if kind not in ("dynamodb", "s3") and "://" not in kind:
            raise ValueError(f"backend must be 'dynamodb', 's3' or a dsn such as redis://host, got {kind!r}")
        if key_prefix and kind != "s3":
            raise ValueError("key_prefix is for an S3 store; an s3:// dsn carries its own prefix")
        creates_table, creates_bucket = kind == "dynamodb" and table is None, kind == "s3" and bucket is None
        if self._point_in_time_recovery and not creates_table:
            raise ValueError(
                "point_in_time_recovery is for the table the construct creates (backend='dynamodb'); "
                "a table you give keeps its own backups"
            )
        if self._encryption_key is not None and not (creates_table or creates_bucket):
            raise ValueError(
                "encryption_key is for the table or bucket the construct creates; one you give "
                "(table=, bucket=) keeps its own key, which the function is granted"
            )
        self._key_prefix = _key_prefix(key_prefix)
        stack = Stack.of(self)

        if kind == "dynamodb":
            if table is None:
                self._store_created = True
                table = self._create_table(removal_policy)
            self.table = table
            return f"dynamodb://{table.table_name}{_region_query(_table_region(table), stack)}"
        if kind == "s3":
            if bucket is None:
                self._store_created = True
                bucket = self._create_bucket(removal_policy)
            self.bucket = bucket
            prefix = f"/{self._key_prefix}" if self._key_prefix else ""
            region = _region_query(bucket.env.region, stack) if not self._store_created else ""
            return f"s3://{bucket.bucket_name}{prefix}{region}"
        return self._external_store(kind, with_secret=with_secret)

    def _create_table(self, removal_policy: RemovalPolicy) -> dynamodb.TableV2:
        """The connection table, in the runtime's layout, with the store's encryption and backups.

        Point-in-time recovery is set either way, so that turning it off in an existing stack
        turns it off on the table, rather than leaving the setting as it was.
        """
        table = dynamodb.TableV2(
            self,
            "Connections",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=self._point_in_time_recovery,
                recovery_period_in_days=RECOVERY_PERIOD_DAYS if self._point_in_time_recovery else None,
            ),
            removal_policy=removal_policy,
        )
        if self._encryption_key is not None:
            _encrypt_table(table, self._encryption_key)
        return table

    def _create_bucket(self, removal_policy: RemovalPolicy) -> s3.Bucket:
        """The connection bucket: private, SSL only, expiring, encrypted with the store's key if any.

        With a key, an S3 Bucket Key: S3 then asks KMS for a bucket-level key now and then rather
        than for a data key at every PutObject and GetObject, which each record's save and load
        are (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html).
        """
        key = self._encryption_key
        return s3.Bucket(
            self,
            "Connections",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED if key is None else s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True if key is not None else None,
            enforce_ssl=True,
            versioned=False,
            lifecycle_rules=[s3.LifecycleRule(expiration=BUCKET_EXPIRATION)],
            removal_policy=removal_policy,
            auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
        )

    def _external_store(self, dsn: str, *, with_secret: bool) -> str:
        """A store named by its dsn: checked by the runtime's parser, imported when AWS's own.

        With `dsn_secret`, the runtime puts the secret's password into the dsn's user info
        (`asgiway.secrets.with_password`), so a bare word there is a user name (`redis://alice@h`
        becomes `redis://alice:<secret>@h`), and only `user:password@` is refused; without one,
        the runtime reads `redis://word@host` as the password "word", and so is it refused.
        """
        try:
            parsed = Dsn.parse(dsn)
            if with_secret and parsed.scheme not in ("dynamodb", "s3"):  # those take no secret at all
                with_password(dsn, "placeholder")  # refuses a dsn that already holds a password
        except ConfigurationError as exc:
            raise ValueError(f"backend: {exc}") from None
        if not with_secret and (parsed.password is not None or parsed.redacted != parsed.original):
            raise ValueError(
                f"backend: the dsn {parsed.redacted!r} holds a password, which would sit in plain "
                "text in the function's environment and the template; keep it in Secrets Manager "
                "and pass dsn_secret= (note: redis://word@host is the password 'word')"
            )
        if parsed.scheme in ("dynamodb", "s3") and parsed.create:
            raise ValueError(
                "backend: create=true would need the role to create tables or buckets; let the "
                "construct create the store (backend='dynamodb' or 's3') or create it yourself"
            )
        stack = Stack.of(self)
        if parsed.scheme == "dynamodb":
            assert parsed.database is not None
            # The table in the stack's account, in the dsn's region or the stack's.
            arn = stack.format_arn(
                service="dynamodb",
                resource="table",
                resource_name=parsed.database,
                region=parsed.region or stack.region,
            )
            self.table = dynamodb.TableV2.from_table_arn(self, "ExistingTable", arn)
        elif parsed.scheme == "s3":
            assert parsed.database is not None
            self.bucket = s3.Bucket.from_bucket_name(self, "ExistingBucket", parsed.database)
            self._key_prefix = parsed.path
        return parsed.original

    def _grant_store(self) -> None:
        """Exactly the calls the runtime's store makes (creating a store is the construct's job)."""
        if self.table is not None:
            self.table.grant(self.function, *DYNAMODB_ACTIONS)
        if self.bucket is not None:
            # Not grant_read_write: its s3:GetObject*/s3:List*/s3:Abort* wildcards exceed these calls.
            iam.Grant.add_to_principal(
                grantee=self.function,
                actions=list(S3_OBJECT_ACTIONS),
                resource_arns=[self.bucket.arn_for_objects(f"{self._key_prefix}*")],
            )
            iam.Grant.add_to_principal(
                grantee=self.function, actions=list(S3_BUCKET_ACTIONS), resource_arns=[self.bucket.bucket_arn]
            )
        # Every save and load encrypts or decrypts with the store's key: S3 needs kms:GenerateDataKey
        # to write and kms:Decrypt to read an SSE-KMS object
        # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html).
        key = self._store_key()
        if key is not None:
            key.grant_encrypt_decrypt(self.function)

    def _store_key(self) -> kms.IKey | None:
        """The KMS key the store is encrypted with, where CDK knows it: the one this construct
        gave the table or bucket it created, or the key of a table or bucket given."""
        if self._encryption_key is not None:
            return self._encryption_key
        if self.table is not None:
            return self.table.encryption_key
        return self.bucket.encryption_key if self.bucket is not None else None

    # The function's own invocation, routes, names.

    def _create_websocket_api(
        self,
        route_selection_expression: str,
        connect_authorizer: apigateway.IWebSocketRouteAuthorizer | None,
        routes: Sequence[str],
    ) -> None:
        """The WebSocket API: the predefined routes, then the custom ones, all on one integration."""
        self._integration = integrations.WebSocketLambdaIntegration("Integration", self.function)
        self.web_socket_api = apigateway.WebSocketApi(
            self,
            "WebSocketApi",
            api_name=self._api_name("WebSocket"),
            route_selection_expression=route_selection_expression,
            connect_route_options=apigateway.WebSocketRouteOptions(
                integration=self._integration, authorizer=connect_authorizer
            ),
            disconnect_route_options=apigateway.WebSocketRouteOptions(integration=self._integration),
            default_route_options=apigateway.WebSocketRouteOptions(
                integration=self._integration, return_response="$default" in self._routes_two_way
            ),
        )
        for route_key in routes:
            self.add_route(route_key, two_way_reply=route_key in self._routes_two_way)

    def _websocket_stage(
        self,
        stage_name: str,
        throttle: apigateway.ThrottleSettings,
        *,
        detailed_metrics: bool,
        logging_on: bool,
        execution_level: str | None,
        domain: apigateway.IDomainName | None,
    ) -> apigateway.WebSocketStage:
        """The auto-deployed WebSocket stage, its access logs and execution log level when logging is on."""
        stage = apigateway.WebSocketStage(
            self,
            "Stage",
            web_socket_api=self.web_socket_api,
            stage_name=stage_name,
            auto_deploy=True,
            throttle=throttle,
            detailed_metrics_enabled=detailed_metrics,
            access_log_settings=(
                AccessLogs(self.access_log_group, WEBSOCKET_ACCESS_LOG)
                if logging_on and self.access_log_group is not None
                else None
            ),
            domain_mapping=_mapping(domain),
        )
        if execution_level is not None:
            # The L2 stage has no prop for it: CloudFormation's DefaultRouteSettings.LoggingLevel.
            stage_resource = cast(CfnResource, stage.node.default_child)
            stage_resource.add_property_override("DefaultRouteSettings.LoggingLevel", execution_level)
        return stage

    def _wire_stage(self) -> None:
        """The stage's URLs, and what the function needs before the stage serves its first CONNECT."""
        self.websocket_url = self.stage.url
        #: `https://{api}.execute-api.{region}.amazonaws.com/{stage}`: where @connections is, what
        #: `Connections(endpoint_url=)` takes.
        self.connections_url = self.stage.callback_url
        self.function.add_environment("WEBSOCKET_URL", self.websocket_url)
        # @connections on this API's stage only: POST, GET and DELETE of any connection id
        # (arn:aws:execute-api:{region}:{account}:{api}/{stage}/POST/@connections/{id},
        # https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-control-access-iam.html).
        self.stage.grant_management_api_access(self.function)
        # The stage serves CONNECT as soon as it exists, and a CONNECT's frames need both the grant
        # and the bounds of the asynchronous invocation that delivers them.
        self.stage.node.add_dependency(self._grant_invoke_itself(), self.event_invoke_config)

    def _create_http_api(
        self,
        throttle: apigateway.ThrottleSettings,
        *,
        detailed_metrics: bool,
        domain: apigateway.IDomainName | None,
    ) -> None:
        """The HTTP API: every path to the function, on an auto-deployed `$default` stage that logs."""
        assert self.access_log_group is not None
        self.http_api = apigateway.HttpApi(
            self,
            "HttpApi",
            api_name=self._api_name("Http"),
            create_default_stage=False,
            default_integration=integrations.HttpLambdaIntegration("HttpIntegration", self.function),
        )
        # HTTP API access logs need no account-wide role: API Gateway delivers them through
        # CloudWatch Logs itself (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging.html).
        self.http_stage = apigateway.HttpStage(
            self,
            "HttpStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=throttle,
            detailed_metrics_enabled=detailed_metrics,
            access_log_settings=AccessLogs(self.access_log_group, HTTP_ACCESS_LOG),
            domain_mapping=_mapping(domain),
        )
        self.http_url = self.http_stage.url

    def _grant_invoke_itself(self) -> iam.Policy:
        """`lambda:InvokeFunction` on this function and its versions and aliases.

        CONNECT hands its frames to an asynchronous invocation of the function ARN Lambda gave it,
        which is qualified when it was invoked through a version or alias
        (https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-ref.html). A policy
        of its own, not `function.grant_invoke`: the function waits for its role's default
        policy, which then could not name the function without a circular dependency.
        """
        return iam.Policy(
            self,
            "InvokeItself",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"],
                    resources=[self.function.function_arn, f"{self.function.function_arn}:*"],
                )
            ],
        )

    def _set_browsers_and_credentials(
        self, allowed_origins: Sequence[str] | None, stored_credentials: Sequence[str]
    ) -> None:
        """ASGIWAY_ALLOWED_ORIGINS (left unset for None: any origin) and ASGIWAY_STORED_CREDENTIALS."""
        if allowed_origins is not None:
            if isinstance(allowed_origins, str):
                raise ValueError(f"allowed_origins takes a list of origins, e.g. [{allowed_origins!r}]")
            self._allowed_origins = []
            self.allow_origins(*allowed_origins)
        if stored_credentials:
            self.function.add_environment(
                "ASGIWAY_STORED_CREDENTIALS", _stored_credentials(stored_credentials)
            )

    def _set_two_way_replies(self) -> None:
        """ASGIWAY_TWO_WAY_REPLIES: "false", "true" ($default only), or the route keys, comma-separated."""
        keys = self._routes_two_way
        value = "false" if not keys else "true" if keys == ["$default"] else ",".join(keys)
        self.function.add_environment("ASGIWAY_TWO_WAY_REPLIES", value)

    def _api_name(self, kind: str) -> str:
        """A name from the construct's path ("Stack-Chat-WebSocket"): two apps in one account keep apart."""
        name = f"{self.node.path.replace('/', '-')}-{kind}"
        if len(name) <= MAX_API_NAME_LENGTH:
            return name
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        return f"{name[: MAX_API_NAME_LENGTH - 9]}-{digest}"

    def _outputs(self) -> None:
        CfnOutput(
            self, "WebSocketUrl", value=self.websocket_url, description="Connect WebSocket clients here"
        )
        CfnOutput(
            self,
            "ConnectionsUrl",
            value=self.connections_url,
            description="The @connections endpoint: Connections(endpoint_url=...) from other functions",
        )
        if self.http_url is not None:
            CfnOutput(self, "HttpUrl", value=self.http_url, description="The app's HTTP routes")
        if self.websocket_custom_url is not None:
            CfnOutput(
                self,
                "WebSocketCustomUrl",
                value=self.websocket_custom_url,
                description="Connect WebSocket clients here, on the custom domain",
            )
        if self.http_custom_url is not None:
            CfnOutput(
                self,
                "HttpCustomUrl",
                value=self.http_custom_url,
                description="The app's HTTP routes, on the custom domain",
            )
        CfnOutput(self, "Store", value=self.store_name, description="Where connections are kept")

    # cdk-nag.

    def _acknowledge(
        self, *, with_connect_authorizer: bool, in_vpc: bool, default_runtime: bool, websocket_logging: bool
    ) -> None:
        """cdk-nag's AwsSolutions findings this design accepts, each on its resource, with the reason.

        The IAM5 wildcard findings are read off the policies as synthesized (cdk-nag names a
        finding after the resource as the template has it, account and region included when the
        stack has an `env`), so whatever the stack produces is acknowledged, and nothing else.
        """
        for policy in (self.role.node.try_find_child("DefaultPolicy"), self.node.find_child("InvokeItself")):
            if isinstance(policy, iam.Policy):
                _acknowledge_wildcards(policy)
        if self.bucket is not None and self._store_created:
            _acknowledge(
                self.bucket,
                "AwsSolutions-S1",
                "The bucket holds short-lived connection records written only by this function, which "
                "logs every event; a second bucket for access logs would outlive what it logs.",
            )
        if self.table is not None and self._store_created and not self._point_in_time_recovery:
            # cdk-nag 3.0's DDB3 checks AWS::DynamoDB::Table only, not this GlobalTable: the reason
            # stays with the table for a checker that looks at global tables too.
            _acknowledge(
                self.table,
                "AwsSolutions-DDB3",
                "Point-in-time recovery is off by choice: records live 2 h 10 min and DynamoDB's TTL "
                "deletes them, while recovery would keep a restorable copy of each (the app's "
                "per-connection state, and any credential stored_credentials keeps) for up to 35 "
                "days. point_in_time_recovery=True turns it on, with one day of history.",
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
            _acknowledge(
                self.web_socket_api.node.find_child(f"{route_key}-Route"), "AwsSolutions-APIG4", reason
            )
        if not websocket_logging:
            _acknowledge(
                self.stage,
                "AwsSolutions-APIG1",
                "WebSocket logs need API Gateway's CloudWatch role, an account-wide setting this "
                "construct leaves alone by default; websocket_logging=True turns them on where the "
                "account has one, cloud_watch_role=True sets it. The HTTP stage always logs.",
            )
        if self.http_api is not None:
            _acknowledge(
                self.http_api.node.find_child("DefaultRoute"),
                "AwsSolutions-APIG4",
                "The HTTP API serves the app's own pages and routes, public ones included; the app "
                "authenticates what it must (an API Gateway authorizer would apply to every path).",
            )
        if in_vpc:
            _acknowledge(
                self.role,
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


def _check_settings(
    *,
    timeout: Duration,
    throttling_rate_limit: int,
    throttling_burst_limit: int,
    reserved_concurrent_executions: int | None,
    async_max_event_age: Duration,
    async_retry_attempts: int,
    environment: Mapping[str, str],
) -> None:
    """Refuse settings that cannot work, naming the setting and why."""
    if timeout.to_seconds() > MAX_INTEGRATION_TIMEOUT.to_seconds():
        raise ValueError("timeout: API Gateway ends an integration after 29 s; a longer one is never used")
    if throttling_rate_limit <= 0 or throttling_burst_limit <= 0:
        raise ValueError("throttling limits must be positive: zero makes API Gateway reject every request")
    if reserved_concurrent_executions is not None and reserved_concurrent_executions <= 0:
        raise ValueError(
            "reserved_concurrent_executions must be positive: zero stops every invocation; leave it "
            "None to share the account's pool"
        )
    age = async_max_event_age.to_seconds()
    if not MIN_ASYNC_EVENT_AGE.to_seconds() <= age <= MAX_ASYNC_EVENT_AGE.to_seconds():
        raise ValueError(
            "async_max_event_age must be 60 s (Lambda's minimum) to 15 minutes: a frame sent during "
            f"CONNECT that arrives later is worse than none, got {age:g} s"
        )
    if not 0 <= async_retry_attempts <= MAX_ASYNC_RETRY_ATTEMPTS:
        raise ValueError(f"async_retry_attempts must be 0 to 2 (Lambda's range), got {async_retry_attempts}")
    managed = sorted(set(environment) & set(MANAGED_VARIABLES))
    if managed:
        raise ValueError(
            f"environment: {', '.join(managed)} is set by the construct from its props "
            "(app=, websocket_path=, two_way_replies=, backend=, dsn_secret=, allowed_origins=, "
            "stored_credentials=)"
        )


def _execution_logging_level(level: str | None, *, logging_on: bool) -> str | None:
    """The WebSocket stage's execution log level, or None to leave API Gateway's OFF."""
    if level is not None and level not in EXECUTION_LOGGING_LEVELS:
        raise ValueError(f"execution_logging_level must be one of {', '.join(EXECUTION_LOGGING_LEVELS)}")
    if not logging_on:
        if level not in (None, "OFF"):
            raise ValueError(
                "execution_logging_level needs websocket_logging=True (or cloud_watch_role=True): "
                "API Gateway writes execution logs with the account's CloudWatch role"
            )
        return None
    return level or "ERROR"


def _two_way_routes(two_way_replies: bool | Sequence[str], routes: Sequence[str]) -> list[str]:
    """The route keys with a route response, checked against the routes there will be."""
    if isinstance(two_way_replies, bool):
        return ["$default"] if two_way_replies else []
    if isinstance(two_way_replies, str):
        raise ValueError("two_way_replies takes True, False or a list of route keys, e.g. ['$default']")
    keys = list(dict.fromkeys(two_way_replies))
    unknown = [key for key in keys if key != "$default" and key not in routes]
    if unknown:
        raise ValueError(
            f"two_way_replies names {', '.join(unknown)}, which is not '$default' nor in routes=; "
            "$connect and $disconnect take no reply"
        )
    return keys


def _stored_credentials(names: Sequence[str]) -> str:
    """ASGIWAY_STORED_CREDENTIALS for `names`, each checked by the runtime's own reading of it."""
    if isinstance(names, str):
        raise ValueError(f"stored_credentials takes a list of names, e.g. [{names!r}]")
    value = ",".join(names)
    try:
        parse_stored_credentials(value)
    except ConfigurationError as exc:
        raise ValueError(f"stored_credentials: {exc}") from None
    return value


def _encrypt_table(table: dynamodb.TableV2, key: kms.IKey) -> None:
    """CUSTOMER_MANAGED encryption of `table` with `key`, written on its CloudFormation resource.

    CDK's `TableEncryptionV2.customer_managed_key` maps each replica's region to a key, so it
    cannot render a stack without a region (ReplicaSpecificationCannotRenderedRegion). The table
    has one replica, in the stack's region, and CloudFormation takes a customer-managed key there:
    SSEType KMS on the table, the key in the replica's SSESpecification; the key must be in the
    replica's region
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-dynamodb-globaltable-ssespecification.html,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-dynamodb-globaltable-replicassespecification.html).
    """
    resource = cast(CfnResource, table.node.default_child)
    resource.add_property_override("SSESpecification", {"SSEEnabled": True, "SSEType": "KMS"})
    resource.add_property_override("Replicas.0.SSESpecification", {"KMSMasterKeyId": key.key_arn})


def _key_prefix(prefix: str) -> str:
    """The key prefix as the runtime reads it from an s3:// dsn ("" or ending with '/')."""
    if not prefix:
        return ""
    try:
        return Dsn.parse(f"s3://placeholder-bucket/{prefix}").path
    except ConfigurationError as exc:
        raise ValueError(f"key_prefix: {exc}") from None


def _table_region(table: dynamodb.ITableV2 | dynamodb.ITable) -> str:
    """The table's region: its ARN's when the ARN is known (`Table.from_table_arn` keeps the stack's
    region as its `env`), else its `env`'s."""
    if Token.is_unresolved(table.table_arn):
        return table.env.region
    return Arn.split(table.table_arn, ArnFormat.SLASH_RESOURCE_NAME).region or table.env.region


def _region_query(region: str, stack: Stack) -> str:
    """`?region=..` when a given table or bucket lies in a region known to differ from the stack's."""
    if Token.is_unresolved(region) or (not Token.is_unresolved(stack.region) and region == stack.region):
        return ""
    return f"?region={region}"


def _account_cloud_watch_role(stack: Stack) -> tuple[iam.IRole, apigateway_v1.CfnAccount]:
    """API Gateway's CloudWatch role for the account and region, set once per stack.

    AWS::ApiGateway::Account is one setting per account and region: "to avoid overwriting other
    roles, you should only have one AWS::ApiGateway::Account resource per region per account"
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-apigateway-account.html).
    Deleting the resource leaves the setting in place, so the role is kept too.
    """
    holder = stack.node.try_find_child(ACCOUNT_LOGGING_ID)
    if holder is None:
        holder = Construct(stack, ACCOUNT_LOGGING_ID)
        role = iam.Role(
            holder,
            "Role",
            assumed_by=iam.ServicePrincipal("apigateway.amazonaws.com"),
            managed_policies=[
                iam.ManagedPolicy.from_aws_managed_policy_name(
                    "service-role/AmazonAPIGatewayPushToCloudWatchLogs"
                )
            ],
        )
        role.apply_removal_policy(RemovalPolicy.RETAIN)
        apigateway_v1.CfnAccount(holder, "Account", cloud_watch_role_arn=role.role_arn)
        _acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "The policy AWS documents for API Gateway's account-wide CloudWatch role "
            "(https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html).",
        )
    return (
        cast(iam.IRole, holder.node.find_child("Role")),
        cast(apigateway_v1.CfnAccount, holder.node.find_child("Account")),
    )


def _mapping(domain: apigateway.IDomainName | None) -> apigateway.DomainMappingOptions | None:
    return apigateway.DomainMappingOptions(domain_name=domain) if domain is not None else None


def _acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    Validations.of(construct).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))


def _acknowledge_wildcards(policy: iam.Policy) -> None:
    """Acknowledge the IAM5 findings of `policy`'s statements whose actions WILDCARD_REASONS explains."""
    document = Stack.of(policy).resolve(policy.document)
    for statement in document.get("Statement", []):
        actions = _as_list(statement.get("Action", []))
        if not actions or not all(action in WILDCARD_REASONS for action in actions):
            continue
        for finding in _wildcard_findings(statement):
            _acknowledge(policy, finding, WILDCARD_REASONS[actions[0]])


def _wildcard_findings(statement: Mapping[str, Any]) -> Iterator[str]:
    """The AwsSolutions-IAM5 findings cdk-nag reports for one resolved policy statement."""
    if statement.get("Effect") != "Allow":
        return
    for action in _as_list(statement.get("Action", [])):
        if "*" in action:
            yield f"AwsSolutions-IAM5[Action::{action}]"
    for resource in _as_list(statement.get("Resource", [])):
        flat = nag_resource_name(resource)
        if "*" in flat:
            yield f"AwsSolutions-IAM5[Resource::{flat}]"


def nag_resource_name(value: Any) -> str:
    """A policy resource as cdk-nag writes it in a finding's id.

    cdk-nag flattens CloudFormation intrinsics: `Fn::Join` joined, `Ref` as `<LogicalId>` (or
    `<AWS::Region>`), `Fn::GetAtt` as `<LogicalId.Attribute>`, `${..}` of `Fn::Sub` as `<..>`,
    `Fn::ImportValue` as its name, anything else as compact JSON.
    """
    if value is None:
        flat = ""
    elif isinstance(value, str):
        flat = value.replace("${", "<").replace("}", ">")
    elif isinstance(value, Mapping) and value.get("Fn::Join"):
        separator, parts = value["Fn::Join"]
        flat = str(separator).join(nag_resource_name(part) for part in parts)
    elif isinstance(value, Mapping) and value.get("Fn::GetAtt"):
        resource, attribute = value["Fn::GetAtt"]
        flat = f"<{nag_resource_name(resource)}.{nag_resource_name(attribute)}>"
    elif isinstance(value, Mapping) and value.get("Ref"):
        flat = f"<{nag_resource_name(value['Ref'])}>"
    elif isinstance(value, Mapping) and (value.get("Fn::Sub") or value.get("Fn::ImportValue")):
        flat = nag_resource_name(value.get("Fn::Sub") or value["Fn::ImportValue"])
    else:
        flat = json.dumps(value, separators=(",", ":"))
    return flat


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


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
