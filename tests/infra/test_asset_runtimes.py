"""The Lambda asset, run on the function's own Python, for every Lambda Python runtime found here.

For each runtime, the construct is synthesized with bundling on, then the asset is treated as
Lambda treats it: compiled by that interpreter (every file, no error allowed), imported by a fresh
interpreter whose path holds only the asset and boto3 (as the Lambda runtime provides it), through
the handler the template names, with the environment the template sets. It then serves the
chat's CONNECT, the asynchronous delivery of its welcome frame, a MESSAGE, a DISCONNECT and an
HTTP API request against DynamoDB (moto's server) and a loopback @connections.

Building an asset on one Python for another is exactly what hides an import that fails only
there (a docstring that 3.13 cannot compile did): this is where it shows.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_

from asgiway.testing import ConnectionsApiDouble, connect_event, disconnect_event, http_event, message_event
from asgiway_cdk import WebSocketAsgiApp
from tests.infra.conftest import CHAT, NO_BUNDLING
from tests.support.chat_frames import readable
from tests.support.interpreters import SUPPORTED_PYTHONS, find_python
from tests.support.lambda_invoke import LambdaInvokeStub
from tests.support.services import MotoServer, in_ci

#: Values CloudFormation would give the template's references, for the environment it sets.
API_ID, REGION = "a1b2c3d4e5", "us-east-1"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:123456789012:function:chat"

#: Runs in the function's Python: `-I -S` leaves only the standard library on sys.path; the
#: asset (Lambda's /var/task) and boto3 (the runtime's own copy) are then all it may import from.
LAMBDA_RUNTIME = """
import importlib, json, pkgutil, sys
asset, boto3_dir, handler_name = sys.argv[1:4]
sys.path[:0] = [asset, boto3_dir]
module_name, attribute = handler_name.rsplit(".", 1)
handler = getattr(importlib.import_module(module_name), attribute)
import asgiway
imported = [info.name for info in pkgutil.walk_packages(asgiway.__path__, "asgiway.")]
for name in imported:
    importlib.import_module(name)
files = {name: getattr(module, "__file__", None) or "" for name, module in list(sys.modules.items())}
outside = sorted(
    name for name, file in files.items()
    if "site-packages" in file and not file.startswith((asset, boto3_dir))
)
print(json.dumps({"imported": imported, "from_site_packages": outside, "path": sys.path[:2]}), flush=True)

class Context:
    function_name = "chat"
    invoked_function_arn = sys.argv[4]
    aws_request_id = "asset-test"
    def get_remaining_time_in_millis(self):
        return 20000

for line in sys.stdin:
    print(json.dumps(handler(json.loads(line), Context())), flush=True)
"""


def lambda_runtime(version: str) -> lambda_.Runtime:
    return lambda_.Runtime(f"python{version}", lambda_.RuntimeFamily.PYTHON)


def machine_architecture() -> lambda_.Architecture:
    import platform

    return lambda_.Architecture.X86_64 if platform.machine() == "x86_64" else lambda_.Architecture.ARM_64


def function_python(version: str) -> Path:
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} interpreter here to run the python{version} asset on")
    return python


def synthesized_template(outdir: Path, **options: Any) -> dict[str, Any]:
    # Asset metadata, as the cdk CLI asks for it: the template then names each function's asset folder.
    context = {"aws:cdk:enable-asset-metadata": True, **options.pop("context", {})}
    app = App(outdir=str(outdir), context=context)
    WebSocketAsgiApp(
        Stack(app, "Chat"), "Chat", code=str(CHAT), app="app:app", websocket_path="/ws", **options
    )
    app.synth()
    template: dict[str, Any] = json.loads((outdir / "Chat.template.json").read_text())
    return template


def resource(template: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    (found,) = [(name, body) for name, body in template["Resources"].items() if body["Type"] == kind]
    return found


def resolved(value: Any, references: dict[str, str]) -> str:
    """A template value with CloudFormation's Ref and Fn::Join worked out; anything else fails."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return references[value["Ref"]]
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(resolved(part, references) for part in parts)
    raise AssertionError(f"an intrinsic this test cannot resolve: {value}")


@pytest.fixture(scope="module")
def boto3_for() -> Any:
    """boto3 installed for a given interpreter, once per version: what the Lambda runtime provides."""
    installed: dict[str, Path] = {}

    def install(python: Path, folder: Path) -> Path:
        if str(python) not in installed:
            subprocess.run(
                [
                    python,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--target",
                    folder,
                    "boto3",
                ],
                check=True,
                timeout=600,
            )
            installed[str(python)] = folder
        return installed[str(python)]

    return install


class LambdaProcess:
    """The asset's handler in its own interpreter, fed one event per line, answering one per line;
    what it logs goes to `log`, as Lambda sends a function's stderr to its log stream."""

    def __init__(
        self, python: Path, asset: Path, *, boto3_dir: Path, handler: str, env: dict[str, str], log: Path
    ) -> None:
        self.log = log
        with log.open("w") as stderr:
            self.process = subprocess.Popen(
                [python, "-I", "-S", "-c", LAMBDA_RUNTIME, str(asset), str(boto3_dir), handler, FUNCTION_ARN],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
                cwd=asset,
            )
        self.started = json.loads(self._line())

    def __call__(self, event: dict[str, Any], *, status: int = 200) -> dict[str, Any]:
        """The function's answer to `event`, which must carry `status` (else the log explains)."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(event) + "\n")
        self.process.stdin.flush()
        answer: dict[str, Any] = json.loads(self._line())
        assert answer.get("statusCode") == status, f"{answer}\n{self.log.read_text()}"
        return answer

    def _line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=30)
            raise AssertionError(f"the function's interpreter exited: {self.log.read_text()}")
        return line

    def close(self) -> str:
        """End the process (end of input); what it logged."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)
        return self.log.read_text()


@pytest.mark.parametrize("version", SUPPORTED_PYTHONS)
def test_the_asset_compiles_imports_and_serves_on_its_own_python(
    version: str,
    tmp_path: Path,
    moto_server: MotoServer,
    boto3_for: Any,
    connections_api: ConnectionsApiDouble,
) -> None:
    python = function_python(version)
    template = synthesized_template(
        tmp_path / "cdk.out", runtime=lambda_runtime(version), architecture=machine_architecture()
    )
    _, function = resource(template, "AWS::Lambda::Function")
    assert function["Properties"]["Runtime"] == f"python{version}"
    asset = tmp_path / "cdk.out" / function["Metadata"]["aws:asset:path"]

    compiled = subprocess.run(
        [python, "-m", "compileall", "-q", str(asset)], capture_output=True, text=True, check=False
    )
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr

    # The table as the template declares it, under a name of this test's own.
    table_id, table = resource(template, "AWS::DynamoDB::GlobalTable")
    table_name = f"asset-{version.replace('.', '')}-{uuid.uuid4().hex[:8]}"
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_server.endpoint_url)
    dynamodb.create_table(
        TableName=table_name,
        KeySchema=table["Properties"]["KeySchema"],
        AttributeDefinitions=table["Properties"]["AttributeDefinitions"],
        BillingMode=table["Properties"]["BillingMode"],
    )
    api_id, _ = _websocket_api(template)
    references = {
        table_id: table_name,
        api_id: API_ID,
        "AWS::Region": REGION,
        "AWS::URLSuffix": "amazonaws.com",
    }
    variables = {
        name: resolved(value, references)
        for name, value in function["Properties"]["Environment"]["Variables"].items()
    }
    assert variables["DSN_URL"] == f"dynamodb://{table_name}"

    with LambdaInvokeStub() as lambda_api:
        env = {
            **variables,
            # Lambda's reserved variables, as the runtime sets them (both region variables included):
            # https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
            "_HANDLER": function["Properties"]["Handler"],
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{version}",
            "AWS_LAMBDA_FUNCTION_NAME": "chat",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function["Properties"]["MemorySize"]),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "LAMBDA_TASK_ROOT": str(asset),
            "TZ": ":UTC",
            "AWS_ACCESS_KEY_ID": "asset-test",
            "AWS_SECRET_ACCESS_KEY": "asset-test",
            # Where boto3 sends each service's calls: loopback stand-ins for AWS.
            "AWS_ENDPOINT_URL_DYNAMODB": moto_server.endpoint_url,
            "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": connections_api.endpoint_url,
            "AWS_ENDPOINT_URL_LAMBDA": lambda_api.endpoint_url,
            "PATH": "/usr/bin:/bin",
        }
        boto3_dir = boto3_for(python, tmp_path.parent / f"boto3-{version}")
        handler = LambdaProcess(
            python,
            asset,
            boto3_dir=boto3_dir,
            handler=function["Properties"]["Handler"],
            env=env,
            log=tmp_path / "function.log",
        )
        try:
            started = handler.started
            assert started["path"] == [str(asset), str(boto3_dir)]
            assert started["from_site_packages"] == []
            stores = {
                f"asgiway.backends.{name}" for name in ("sqlite", "postgresql", "redis", "dynamodb", "s3")
            }
            assert stores <= set(started["imported"])

            connect = connect_event("Ada=", query={"name": ["ada"], "room": ["lobby"]})
            handler(connect)
            assert len(_items(dynamodb, table_name)) > 0, "the record is in the table"
            # The welcome frame went to an asynchronous invocation of the function, as on Lambda:
            ((_, invocation_type, delivery),) = lambda_api.invocations
            assert invocation_type == "Event"
            assert json.loads(handler(delivery)["body"]) == {"delivered": 1}

            # The chat's protocol, on the route infra/app.py declares (routes=["sendmessage"]).
            said = json.dumps({"action": "sendmessage", "data": "hello from python" + version})
            handler(message_event("Ada=", said, route_key="sendmessage"))
            handler(disconnect_event("Ada=", code=1001))
            assert _items(dynamodb, table_name) == []

            page = handler(http_event("GET", "/"))
            assert f"wss://{API_ID}.execute-api.{REGION}.amazonaws.com/prod" in page["body"]
        finally:
            errors = handler.close()
    assert "Traceback" not in errors, errors
    frames = [readable(frame) for frame in connections_api.sent("Ada=")]
    assert frames == ["Welcome to #lobby, ada! (ada)", f"ada: hello from python{version}"]


def _websocket_api(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (name, body)
        for name, body in template["Resources"].items()
        if body["Type"] == "AWS::ApiGatewayV2::Api" and body["Properties"].get("ProtocolType") == "WEBSOCKET"
    ]
    return found


def _items(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    return items


def test_the_default_runtime_is_one_this_suite_runs_the_asset_on(tmp_path: Path) -> None:
    """Deploying with the defaults must give a runtime the test above has just exercised."""
    template = synthesized_template(tmp_path, context=NO_BUNDLING)
    _, function = resource(template, "AWS::Lambda::Function")
    version = function["Properties"]["Runtime"].removeprefix("python")
    assert version in SUPPORTED_PYTHONS
    if find_python(version) is None:
        message = f"the construct's default runtime is python{version}, which no interpreter here can run"
        if in_ci():
            pytest.fail(f"CI=true: {message}")
        pytest.skip(message)
