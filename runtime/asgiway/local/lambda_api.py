"""Lambda's Invoke API, for the function itself: how the adapter delivers frames sent during CONNECT.

On Lambda, the CONNECT invocation hands such frames to an asynchronous invocation of its own
function (see `asgiway.deferred`); here that call reaches this endpoint and runs on an instance,
exactly as Lambda would run it. `Event` answers 202 at once, `RequestResponse` 200 with the
result (and `X-Amz-Function-Error: Unhandled` when it failed), `DryRun` 204, and a payload that is
not JSON 400 `InvalidRequestContentException`, as Lambda does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from asgiway.local.instances import Invocation
from asgiway.local.response import GatewayResponse, encode_headers

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<function>[^/]+)/invocations$")


def names_function(requested: str, name: str) -> bool:
    """True for the function's name, its ARN, or a partial ARN (`account:function:name`)."""
    return requested == name or requested.rsplit(":function:", 1)[-1].split(":", 1)[0] == name


def not_found(requested: str) -> GatewayResponse:
    body = json.dumps({"Type": "User", "Message": f"Function not found: {requested}"}).encode()
    return GatewayResponse(404, encode_headers({"x-amzn-ErrorType": "ResourceNotFoundException"}), body)


def invalid_request_content(problem: ValueError) -> GatewayResponse:
    """Lambda's answer to a payload that is not JSON: 400 InvalidRequestContentException, its
    message beginning as Lambda's does (the rest is the parser's, Java's there, Python's here)."""
    message = f"Could not parse request body into json: Could not parse payload into json: {problem}"
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": "InvalidRequestContentException"}
    return GatewayResponse(
        400, encode_headers(headers), json.dumps({"Type": "User", "message": message}).encode()
    )


def timed_out(timeout_seconds: float) -> dict[str, str]:
    return {"errorMessage": f"Task timed out after {timeout_seconds:.2f} seconds"}


async def answer_invoke(
    invocation_type: str,
    payload: bytes,
    invoke: Callable[[Any], Awaitable[Invocation]],
    in_background: Callable[[Awaitable[Invocation]], None],
    timeout_seconds: float,
) -> GatewayResponse:
    try:
        event = json.loads(payload or b"{}")
    except ValueError as exc:  # not JSON, or not UTF-8
        return invalid_request_content(exc)
    if invocation_type == "DryRun":
        return GatewayResponse(204, [], b"")
    if invocation_type == "Event":
        in_background(invoke(event))
        return GatewayResponse(202, [], b"")
    invocation = await invoke(event)
    failed = encode_headers({"X-Amz-Function-Error": "Unhandled"})
    if invocation.timed_out:
        return GatewayResponse(200, failed, json.dumps(timed_out(timeout_seconds)).encode())
    if invocation.error is not None:
        return GatewayResponse(200, failed, json.dumps(invocation.error).encode())
    return GatewayResponse(
        200, [(b"content-type", b"application/json")], json.dumps(invocation.result).encode()
    )
