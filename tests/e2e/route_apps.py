"""What the route and authorizer tests serve: an app that reports, for every message, the route it
came on and what the `$connect` authorizer said about the connection."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from asgiway.sources.websocket import ROUTE_SCOPE_KEY

#: Where the authorizer writes one line per call, when the test sets it.
AUTHORIZER_CALLS_VARIABLE = "ASGIWAY_TEST_AUTHORIZER_CALLS"


async def report(websocket: WebSocket) -> None:
    """Reply to each message with its route, body and authorizer context, as JSON."""
    await websocket.accept()
    try:
        while True:
            text = await websocket.receive_text()
            event = websocket.scope["aws.event"]
            await websocket.send_text(
                json.dumps(
                    {
                        "route": websocket.scope[ROUTE_SCOPE_KEY],
                        "event_route": event["requestContext"]["routeKey"],
                        "body": text,
                        "scope_authorizer": websocket.scope.get("aws.authorizer"),
                        "event_authorizer": event["requestContext"].get("authorizer"),
                    }
                )
            )
    except WebSocketDisconnect:
        return


app = Starlette(routes=[WebSocketRoute("/", report)])


def _policy(effect: str, resource: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}],
    }


def authorize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A `$connect` REQUEST authorizer that does what the handshake's `?as=` says.

    Allow's context carries facts about the event it was called with, so a test can check its shape.
    """
    calls = os.environ.get(AUTHORIZER_CALLS_VARIABLE)
    query = event.get("queryStringParameters") or {}
    if calls:
        with Path(calls).open("a") as file:
            file.write(json.dumps(query) + "\n")
    decision = query.get("as", "allow")
    if decision == "unauthorized":
        # The exception AWS's documentation raises for a 401.
        raise Exception("Unauthorized")
    if decision == "raise":
        raise RuntimeError("the authorizer broke")
    if decision == "malformed":
        return {"principalId": "someone"}
    if decision == "nested-context":
        return {"principalId": "someone", "policyDocument": _policy("Allow", "*"), "context": {"a": {"b": 1}}}
    if decision == "deny":
        return {"principalId": "someone", "policyDocument": _policy("Deny", event["methodArn"])}
    headers = event["headers"]
    return {
        "principalId": f"user-{query['token']}",
        "policyDocument": _policy("Allow", event["methodArn"]),
        "context": {
            "type": event["type"],
            "methodArn": event["methodArn"],
            "connection": headers.get("Connection", ""),
            "contentLength": headers.get("content-length", ""),
            "routeKey": event["requestContext"]["routeKey"],
            "stageVariables": json.dumps(event["stageVariables"]),
            "level": 3,
            "admin": False,
        },
    }
