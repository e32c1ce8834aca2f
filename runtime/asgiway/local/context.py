"""The Lambda context object, as a local run hands it to a handler: a real countdown to the timeout."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from asgiway.local.events import LOCAL_ACCOUNT_ID


def function_arn(name: str, region: str) -> str:
    return f"arn:aws:lambda:{region}:{LOCAL_ACCOUNT_ID}:function:{name}"


@dataclass
class LocalContext:
    """The attributes and method of Lambda's context object that handlers read."""

    timeout_seconds: float = 30.0
    function_name: str = "asgiway-local"
    invoked_function_arn: str = function_arn("asgiway-local", "us-east-1")
    memory_limit_in_mb: int = 1024
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)
    #: Set only for invocations from the AWS Mobile SDK, as on Lambda.
    identity: object | None = None
    client_context: object | None = None

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"{time.strftime('%Y/%m/%d')}/[{self.function_version}]local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))
