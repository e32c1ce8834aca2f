"""What an HTTP API (payload 2.0) makes of a Lambda result, or of its failure.

A result with `statusCode` is a proxy response (see `asgiway.local.response`). Any other JSON
value is the body of a 200 `application/json` response, as API Gateway infers it. A function
error or timeout is `500 {"message":"Internal Server Error"}`, a malformed response a 502.
"""

from __future__ import annotations

import json

from asgiway.local.instances import Invocation
from asgiway.local.response import GatewayResponse, MalformedResultError, proxy_response

INTERNAL_SERVER_ERROR = GatewayResponse.message(500, "Internal Server Error")
BAD_GATEWAY = GatewayResponse.message(502, "Internal Server Error")


def response_from(invocation: Invocation) -> GatewayResponse:
    if invocation.failed:
        return INTERNAL_SERVER_ERROR
    result = invocation.result
    if not isinstance(result, dict) or "statusCode" not in result:
        body = result if isinstance(result, str) else json.dumps(result)
        return GatewayResponse(200, [(b"content-type", b"application/json")], body.encode())
    try:
        return proxy_response(result)
    except MalformedResultError:
        return BAD_GATEWAY
