"""The construct synthesized for real: bundled without Docker, linted, checked by cdk-nag, and run.

cdk-nag runs on both stores (created or existing), environment-agnostic and with `env`, and on a
stack with every option on; cfn-lint on the same; `npx cdk synth` runs the repository's app as a
user would, and two clones at different paths must hash the asset the same (issue 14).
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import cdk_nag
import pytest
from aws_cdk import Acknowledgment, App, Environment, RemovalPolicy, Stack, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk.aws_apigatewayv2_integrations import WebSocketLambdaIntegration

from asgiway_cdk import WebSocketAsgiApp
from asgiway_cdk.bundling import LocalBundler, pip_platforms
from tests.infra.conftest import CHAT, ENV, NO_BUNDLING
from tests.support.dev_server import REPOSITORY

CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")
#: Lambda's limit for an unzipped deployment package is 250 MB; the issue's target for the chat is 5 MB.
ASSET_TARGET_BYTES = 5 * 1024 * 1024


def synthesized(outdir: Path, context: dict[str, Any] | None = None, **options: Any) -> Path:
    app = App(outdir=str(outdir), context=context or {})
    stack = Stack(app, "Chat")
    WebSocketAsgiApp(stack, "Chat", code=str(CHAT), app="app:app", websocket_path="/ws", **options)
    app.synth()
    return outdir


def the_asset(outdir: Path) -> Path:
    (asset,) = [path for path in outdir.glob("asset.*") if path.is_dir()]
    return asset


@pytest.fixture(scope="module")
def local_asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chat bundled for this machine's Python and architecture, so it can run here."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    machine = lambda_.Architecture.X86_64 if "x86_64" in _machine() else lambda_.Architecture.ARM_64
    runtime = lambda_.Runtime(
        f"python{sys.version_info.major}.{sys.version_info.minor}", lambda_.RuntimeFamily.PYTHON
    )
    return the_asset(synthesized(outdir, architecture=machine, runtime=runtime))


def _machine() -> str:
    import platform

    return platform.machine()


def test_the_asset_holds_the_runtime_the_example_and_its_requirements(local_asset: Path) -> None:
    assert (local_asset / "app.py").is_file()
    assert (local_asset / "asgiway" / "entrypoint.py").is_file()
    assert (local_asset / "starlette" / "__init__.py").is_file()
    for left_out in ("local", "testing", "cli.py"):
        assert not (local_asset / "asgiway" / left_out).exists(), left_out
    assert not list(local_asset.glob("boto3*"))
    assert not list(local_asset.glob("botocore*"))
    assert not (local_asset / "requirements.txt").exists()
    size = sum(path.stat().st_size for path in local_asset.rglob("*") if path.is_file())
    assert size < ASSET_TARGET_BYTES, f"{size} bytes"


def test_the_asset_ships_no_console_script_and_nothing_of_the_build_machine(local_asset: Path) -> None:
    """pip writes console scripts with a shebang naming the builder's interpreter: none ships."""
    assert not (local_asset / "bin").exists()
    for record in local_asset.glob("*.dist-info/RECORD"):
        assert "../../bin/" not in record.read_text(), record
    machine = [str(REPOSITORY).encode(), sys.prefix.encode(), sys.executable.encode()]
    leaking = [
        path.relative_to(local_asset).as_posix()
        for path in local_asset.rglob("*")
        if path.is_file() and any(part in path.read_bytes() for part in machine)
    ]
    assert leaking == []


def test_the_asset_ships_bytecode_that_no_date_invalidates(local_asset: Path) -> None:
    """Built on the function's own Python version: every module compiled, so no cold start compiles."""
    sources = [
        *local_asset.glob("*.py"),
        *(local_asset / "asgiway").rglob("*.py"),
        *(local_asset / "starlette").rglob("*.py"),
    ]
    assert len(sources) > 30
    for source in sources:
        compiled = Path(importlib.util.cache_from_source(str(source)))
        header = compiled.read_bytes()[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER, source
        # Flags 0b01: hash-based and never checked, so CDK's fixed zip dates cannot make it stale.
        assert int.from_bytes(header[4:8], "little") == 0b01, source
    code = marshal.loads(
        (Path(importlib.util.cache_from_source(str(local_asset / "app.py")))).read_bytes()[16:]
    )
    assert code.co_filename == "/var/task/app.py", "tracebacks name the file where Lambda has it"


def test_the_asset_hash_follows_architecture_python_and_requirements(tmp_path: Path) -> None:
    code = tmp_path / "code"
    shutil.copytree(CHAT, code, ignore=shutil.ignore_patterns("__pycache__"))
    arm = LocalBundler(code, architecture="arm64", python_version="3.14")
    assert arm.asset_hash() == LocalBundler(code, architecture="arm64", python_version="3.14").asset_hash()
    assert arm.asset_hash() != LocalBundler(code, architecture="x86_64", python_version="3.14").asset_hash()
    assert arm.asset_hash() != LocalBundler(code, architecture="arm64", python_version="3.13").asset_hash()
    before = arm.asset_hash()
    (code / "requirements.txt").write_text("starlette==1.0.0\n")
    assert arm.asset_hash() != before


#: Synthesizes the chat in a clone (its runtime, construct and example on PYTHONPATH) and prints
#: where asgiway was imported from and the function's asset hash as the template names it.
CLONE_SYNTH = """
import json, sys
from pathlib import Path
from aws_cdk import App, Stack
import asgiway
from asgiway_cdk import WebSocketAsgiApp
clone = Path(sys.argv[1])
app = App(outdir=sys.argv[2], context={"aws:cdk:bundling-stacks": []})
WebSocketAsgiApp(Stack(app, "Chat"), "Chat", code=str(clone / "examples" / "chat"), app="app:app")
app.synth()
template = json.loads((Path(sys.argv[2]) / "Chat.template.json").read_text())
(function,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
print(json.dumps({"asgiway": asgiway.__file__, "key": function["Properties"]["Code"]["S3Key"]}))
"""


def test_two_clones_at_different_paths_synthesize_the_same_asset_hash(tmp_path: Path) -> None:
    """The hash depends on the inputs only: not on where the clone lies, nor on the machine."""
    # One snapshot of this checkout, cloned twice: the clones hold the same files, whatever is edited here.
    source = tmp_path / "snapshot"
    for part in ("runtime/asgiway", "infra/asgiway_cdk", "examples/chat"):
        shutil.copytree(
            REPOSITORY / part, source / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    found = []
    for clone in (tmp_path / "one" / "asgiway", tmp_path / "somewhere-else" / "checkout"):
        shutil.copytree(source, clone)
        finished = subprocess.run(
            [sys.executable, "-c", CLONE_SYNTH, str(clone), str(clone / "cdk.out")],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": f"{clone / 'runtime'}{os.pathsep}{clone / 'infra'}"},
            timeout=300,
        )
        assert finished.returncode == 0, finished.stderr
        result = json.loads(finished.stdout.strip().splitlines()[-1])
        assert result["asgiway"].startswith(str(clone)), "the clone's runtime, not the installed one"
        found.append(result["key"])
    assert found[0] == found[1]


@pytest.mark.parametrize(
    ("requirement", "python_version", "extension"),
    [
        # Published for cp314 aarch64 only as manylinux_2_27/2_28: Amazon Linux 2023 runs them.
        ("numpy==2.3.4", "3.14", "numpy/_core/_multiarray_umath.cpython-314-aarch64-linux-gnu.so"),
        ("psycopg2-binary==2.9.10", "3.13", "psycopg2/_psycopg.cpython-313-aarch64-linux-gnu.so"),
    ],
)
def test_binary_wheels_are_built_for_the_functions_architecture_and_python(
    tmp_path: Path, requirement: str, python_version: str, extension: str
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "app.py").write_text("app = None\n")
    (code / "requirements.txt").write_text(f"{requirement}\n")
    output = tmp_path / "asset"
    bundler = LocalBundler(code, architecture="arm64", python_version=python_version)
    bundler.bundle(output)
    built = output / extension
    elf_machine = int.from_bytes(built.read_bytes()[18:20], "little")
    assert elf_machine == 0xB7, "an aarch64 shared object, whatever this machine is"
    if sys.version_info[:2] != tuple(int(part) for part in python_version.split(".")):
        assert not bundler.compiles_bytecode
        assert not list(output.rglob("*.pyc")), "this machine's bytecode would not load on that Python"


def test_wheel_platforms_follow_the_runtimes_glibc() -> None:
    assert pip_platforms("arm64", "3.14") == [
        "manylinux_2_17_aarch64",
        "manylinux_2_28_aarch64",
        "manylinux_2_34_aarch64",
        "manylinux2014_aarch64",
    ]
    assert pip_platforms("x86_64", "3.11") == [
        "manylinux_2_17_x86_64",
        "manylinux_2_26_x86_64",
        "manylinux2014_x86_64",
    ]


def nag_report(app: App, outdir: Path) -> dict[str, Any]:
    """Synthesize `app` under cdk-nag's AwsSolutions checks; its report (synth raises on a finding)."""
    Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app))
    app.synth()  # raises ValidationFailed, listing each finding, when one is not acknowledged
    (report,) = json.loads((outdir / "validation-report.json").read_text())["pluginReports"]
    assert (report["pluginName"], report["conclusion"], report["violations"]) == (
        "AwsSolutions",
        "success",
        [],
    )
    for acknowledged in report["suppressedViolations"]:
        assert len(acknowledged["reason"]) > 40, acknowledged["ruleName"]
    return dict(report)


@pytest.mark.parametrize("env", [None, ENV], ids=["agnostic", "env"])
@pytest.mark.parametrize(
    "backend", ["dynamodb", "s3", "dynamodb://existing-table?region=us-east-2", "s3://team-bucket/chat/"]
)
def test_cdk_nag_aws_solutions_finds_nothing_unacknowledged(
    tmp_path: Path, backend: str, env: Environment | None
) -> None:
    app = App(outdir=str(tmp_path), context=NO_BUNDLING)
    stack = Stack(app, "Chat", env=env)
    WebSocketAsgiApp(stack, "Chat", code=str(CHAT), app="app:app", websocket_path="/ws", backend=backend)
    report = nag_report(app, tmp_path)
    wildcards = [v["ruleName"] for v in report["suppressedViolations"] if "IAM5" in v["ruleName"]]
    assert wildcards, "the @connections wildcard is acknowledged, in the form this stack produces"
    if env is not None:
        assert all("<AWS::Region>" not in rule for rule in wildcards), wildcards


def every_option(outdir: Path, env: Environment | None = ENV) -> tuple[App, Stack]:
    """A stack with every option on, beside the user's own resources a team would wire in."""
    app = App(outdir=str(outdir), context=NO_BUNDLING)
    stack = Stack(app, "Chat", env=env)
    key = kms.Key.from_key_arn(
        stack, "Key", "arn:aws:kms:eu-west-1:123456789012:key/0f3c1a2b-1111-2222-3333-444455556666"
    )
    bucket = s3.Bucket.from_bucket_attributes(stack, "Shared", bucket_name="team-bucket", encryption_key=key)
    queue = sqs.Queue(stack, "Undelivered", enforce_ssl=True)
    chat = WebSocketAsgiApp(
        stack,
        "Chat",
        code=str(CHAT),
        app="app:app",
        bucket=bucket,
        key_prefix="chat/",
        routes=["sendmessage"],
        two_way_replies=["sendmessage"],
        tracing=lambda_.Tracing.ACTIVE,
        reserved_concurrent_executions=10,
        detailed_metrics=True,
        cloud_watch_role=True,
        execution_logging_level="INFO",
        on_failure=destinations.SqsDestination(queue),
        allowed_origins=["https://chat.example.com"],
        stored_credentials=["token"],
    )
    chat.add_route("typing")
    chat.allow_origins(chat.http_origin)
    second = WebSocketAsgiApp(stack, "Support", code=str(CHAT), app="app:app", cloud_watch_role=True)
    reminder = lambda_.Function(
        stack,
        "Reminder",
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): return None"),
    )
    chat.grant_manage_connections(reminder)
    second.grant_manage_connections(reminder)
    # The test's own resources, not the construct's: what a team would acknowledge in its stack.
    for construct, rule in (
        (queue, "AwsSolutions-SQS3"),
        (
            reminder,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
        ),
    ):
        Validations.of(construct).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions::{rule}", reason="The test's own scaffolding, not the construct's."
            )
        )
    return app, stack


@pytest.mark.parametrize("env", [None, ENV], ids=["agnostic", "env"])
def test_cdk_nag_passes_with_every_option_on(tmp_path: Path, env: Environment | None) -> None:
    app, _ = every_option(tmp_path, env)
    report = nag_report(app, tmp_path)
    rules = {v["ruleName"] for v in report["suppressedViolations"]}
    # The reminder's grant is acknowledged on the reminder, for this API's @connections only.
    assert any("@connections" in rule for rule in rules)
    assert "AwsSolutions-IAM5[Resource::*]" in rules  # X-Ray's actions take no resource


def test_the_constructs_acknowledgements_hide_nothing_of_the_users_own(tmp_path: Path) -> None:
    """The construct acknowledges L1 and APIG4 on its own function and routes; the same findings on
    a function and a route of the user's are still reported (aws-cdk-lib 2.271.0 and later)."""
    app = App(outdir=str(tmp_path), context=NO_BUNDLING)
    stack = Stack(app, "Chat")
    chat = WebSocketAsgiApp(stack, "Chat", code=str(CHAT), app="app:app")
    legacy = lambda_.Function(
        stack,
        "Legacy",
        runtime=lambda_.Runtime.PYTHON_3_12,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context): return None"),
    )
    chat.web_socket_api.add_route("unguarded", integration=WebSocketLambdaIntegration("Unguarded", legacy))
    Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app))
    with pytest.raises(Exception, match=r"Validation ?[Ff]ailed"):
        app.synth()
    (report,) = json.loads((tmp_path / "validation-report.json").read_text())["pluginReports"]
    reported = {
        violation["ruleName"]: sorted(re.findall(r'"constructPath": "([^"]+)"', json.dumps(violation)))
        for violation in report["violations"]
    }
    assert reported["AwsSolutions-L1"] == ["Chat/Legacy/Resource"]
    assert reported["AwsSolutions-APIG4"] == ["Chat/Chat/WebSocketApi/unguarded-Route/Resource"]


def run_cfn_lint(template: Path) -> None:
    finished = subprocess.run(
        [CFN_LINT, "--ignore-checks", "W3005", "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr


def test_cfn_lint_passes_with_every_option_on(tmp_path: Path) -> None:
    app, _ = every_option(tmp_path)
    app.synth()
    run_cfn_lint(tmp_path / "Chat.template.json")


@pytest.mark.parametrize("backend", ["dynamodb", "s3", "dynamodb://existing-table", "s3://team-bucket/chat/"])
def test_cfn_lint_passes_on_the_template(tmp_path: Path, backend: str) -> None:
    synthesized(tmp_path, NO_BUNDLING, backend=backend)
    run_cfn_lint(tmp_path / "Chat.template.json")


@pytest.fixture
def cdk_cli() -> Path:
    """The aws-cdk CLI pinned in package.json, installed by npm as a newcomer would."""
    from tests.support.services import require

    require(shutil.which("npm") is not None, "Node.js and npm (for the aws-cdk CLI)")
    cli = REPOSITORY / "node_modules" / ".bin" / "cdk"
    if not cli.exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=REPOSITORY, check=True)
    return cli


@pytest.mark.parametrize(
    "context",
    [[], ["--context", "account=123456789012", "--context", "region=eu-west-1"]],
    ids=["agnostic", "env"],
)
def test_npx_cdk_synth_of_the_repositorys_app_bundles_and_writes_the_assembly(
    cdk_cli: Path, tmp_path: Path, context: list[str]
) -> None:
    """`npx cdk synth` as cdk.json runs it: bundled, checked by cdk-nag (infra/app.py adds it).

    cdk.json names the repository's .venv; under another interpreter (`nox -s cdk_floors`), its app
    runs on that one, so the CLI synthesizes with the libraries under test.
    """
    app = json.loads((REPOSITORY / "cdk.json").read_text())["app"]
    venv_python = ".venv/bin/python"
    on_this_python = []
    if Path(sys.executable).absolute() != (REPOSITORY / venv_python).absolute():
        on_this_python = ["--app", app.replace(venv_python, sys.executable)]
    finished = subprocess.run(
        [str(cdk_cli), "synth", "--output", str(tmp_path), "--quiet", *on_this_python, *context],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    template = json.loads((tmp_path / "AsgiwayChat.template.json").read_text())
    kinds = [resource["Type"] for resource in template["Resources"].values()]
    assert kinds.count("AWS::Lambda::Function") == 1
    assert kinds.count("AWS::Lambda::EventInvokeConfig") == 1
    assert "AWS::ApiGateway::Account" not in kinds, "no account-wide setting by default"
    names = sorted(
        resource["Properties"]["Name"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ApiGatewayV2::Api"
    )
    assert names == ["AsgiwayChat-Chat-Http", "AsgiwayChat-Chat-WebSocket"]
    # Browsers connect from the chat page's own origin only: its HTTP API's endpoint, no path.
    (http_api,) = [
        name
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::ApiGatewayV2::Api" and resource["Properties"]["ProtocolType"] == "HTTP"
    ]
    (function,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert function["Properties"]["Environment"]["Variables"]["ASGIWAY_ALLOWED_ORIGINS"] == {
        "Fn::GetAtt": [http_api, "ApiEndpoint"]
    }
    assert any(name.startswith("ChatConnectionsUrl") for name in template["Outputs"])
    (report,) = json.loads((tmp_path / "validation-report.json").read_text())["pluginReports"]
    assert (report["pluginName"], report["conclusion"]) == ("AwsSolutions", "success")
    if context:
        assert "eu-west-1" in json.dumps(template["Outputs"])
    asset = the_asset(tmp_path)
    assert (asset / "asgiway" / "entrypoint.py").is_file()
    assert (asset / "starlette").is_dir()
    assert not (asset / "bin").exists(), "no console script, no shebang naming this machine's Python"


def test_a_vpc_function_passes_cdk_nag_and_cfn_lint(tmp_path: Path) -> None:
    app = App(outdir=str(tmp_path), context=NO_BUNDLING)
    stack = Stack(app, "Chat")
    vpc = ec2.Vpc.from_vpc_attributes(
        stack,
        "Network",
        vpc_id="vpc-0123456789abcdef0",
        availability_zones=["us-east-1a", "us-east-1b"],
        private_subnet_ids=["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    )
    chat = WebSocketAsgiApp(
        stack,
        "Chat",
        code=str(CHAT),
        app="app:app",
        backend="redis://cache.internal:6379/0",
        dsn_secret=secretsmanager.Secret.from_secret_name_v2(stack, "Password", "chat/cache"),
        vpc=vpc,
        removal_policy=RemovalPolicy.DESTROY,
        two_way_replies=True,
    )
    Validations.of(chat).add_plugins(cdk_nag.AwsSolutionsChecks(chat))
    app.synth()
    linted = subprocess.run(
        [CFN_LINT, "--ignore-checks", "W3005", "--", str(tmp_path / "Chat.template.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
