"""The deploying guide's CDK app (docs/snippets/deploy_stack.py), synthesized as `cdk synth` runs it.

In a process of its own, as the CDK CLI runs an app: jsii's Node process reads CDK_OUTDIR and
CDK_CONTEXT_JSON when it starts, and this test process started its own long before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.docs.snippets import ROOT, SNIPPETS
from tests.infra.conftest import NO_BUNDLING


def test_the_guides_stack_synthesizes_the_chat_on_dynamodb(tmp_path: Path) -> None:
    # What the CDK CLI hands an app: where to write, and the context (here: bundle nothing).
    environment = {**os.environ, "CDK_OUTDIR": str(tmp_path), "CDK_CONTEXT_JSON": json.dumps(NO_BUNDLING)}
    subprocess.run(
        [sys.executable, str(SNIPPETS / "deploy_stack.py")],
        cwd=ROOT,  # `code="examples/chat"` is relative, as from the repository's root
        env=environment,
        check=True,
        timeout=300,
    )

    resources = json.loads((tmp_path / "Chat.template.json").read_text())["Resources"]
    kinds = [resource["Type"] for resource in resources.values()]
    assert kinds.count("AWS::ApiGatewayV2::Api") == 2, "a WebSocket API and an HTTP API"
    assert kinds.count("AWS::DynamoDB::Table") + kinds.count("AWS::DynamoDB::GlobalTable") == 1
    routes = {
        resource["Properties"]["RouteKey"]
        for resource in resources.values()
        if resource["Type"] == "AWS::ApiGatewayV2::Route"
    }
    assert {"$connect", "$default", "$disconnect", "sendmessage"} <= routes
    (function,) = [resource for resource in resources.values() if resource["Type"] == "AWS::Lambda::Function"]
    variables = function["Properties"]["Environment"]["Variables"]
    assert (variables["ASGIWAY_APP"], variables["ASGIWAY_WEBSOCKET_PATH"]) == ("app:app", "/ws")
