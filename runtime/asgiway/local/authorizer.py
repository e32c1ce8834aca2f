"""A `$connect` Lambda REQUEST authorizer, as API Gateway runs one for a WebSocket API.

Before `$connect`, API Gateway checks the identity sources (a request missing one is refused with
401, the authorizer not called), then invokes the authorizer with a REQUEST event: `type`,
`methodArn` (ending in `/$connect`), the upgrade request's headers and query string, the stage
variables and a `$connect` request context, as shown in
https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-lambda-auth.html
An Allow policy lets the connection through, its `principalId` and `context` becoming
`requestContext.authorizer`; Deny is 403, an `Unauthorized` error 401, anything else 500.
WebSocket authorizers are not cached: each handshake runs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from asgiway.local.events import (
    LOCAL_ACCOUNT_ID,
    Client,
    Stage,
    now_ms,
    query_parameters,
    single_and_multi,
    upgrade_headers,
    websocket_request_context,
)
from asgiway.local.instances import Invocation

#: The error message that makes a failed authorizer a 401, not a 500: `raise Exception("Unauthorized")`.
UNAUTHORIZED_MESSAGE = "Unauthorized"
_IDENTITY_SOURCE = re.compile(r"^route\.request\.(?P<where>header|querystring)\.(?P<name>[^.\s]+)$")
_INVOKE_ACTIONS = frozenset({"execute-api:Invoke", "execute-api:*", "*"})


@dataclass(frozen=True)
class IdentitySource:
    """One of the request values an authorizer needs: a header or a query string parameter."""

    where: str
    name: str

    @classmethod
    def parse(cls, text: str) -> IdentitySource:
        found = _IDENTITY_SOURCE.match(text.strip())
        if found is None:
            raise ValueError(
                f"{text!r} is not an identity source the emulator reads: use "
                "route.request.header.NAME or route.request.querystring.NAME"
            )
        return cls(found["where"], found["name"])

    def present_in(self, client: Client) -> bool:
        """Whether the request carries it, non-empty (API Gateway treats empty as missing)."""
        if self.where == "header":
            wanted = self.name.lower()
            return any(name.lower() == wanted and value for name, value in client.headers)
        parameters = query_parameters(client).get("queryStringParameters", {})
        return bool(parameters.get(self.name))

    def __str__(self) -> str:
        return f"route.request.{self.where}.{self.name}"


@dataclass(frozen=True)
class AuthorizerSettings:
    """`--authorizer module:function` and its `--authorizer-identity-source` values."""

    target: str
    identity_sources: tuple[IdentitySource, ...] = field(default_factory=tuple)

    def missing_identity(self, client: Client) -> IdentitySource | None:
        return next((source for source in self.identity_sources if not source.present_in(client)), None)


def method_arn(stage: Stage, region: str) -> str:
    return f"arn:aws:execute-api:{region}:{LOCAL_ACCOUNT_ID}:{stage.api_id}/{stage.name}/$connect"


def authorizer_event(stage: Stage, client: Client, *, region: str, port: int, proto: str) -> dict[str, Any]:
    """The REQUEST authorizer's event for a handshake: unlike `$connect`'s, its headers keep
    `Connection` and `Upgrade` and say `content-length: 0`, as AWS's example shows."""
    epoch_ms = now_ms()
    headers = upgrade_headers(client, port=port, proto=proto, epoch_ms=epoch_ms, hop_by_hop=True)
    if not any(name.lower() == "content-length" for name, _ in headers):
        headers.append(("content-length", "0"))
    single, multi = single_and_multi(headers)
    query = query_parameters(client)
    return {
        "type": "REQUEST",
        "methodArn": method_arn(stage, region),
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": query.get("queryStringParameters", {}),
        "multiValueQueryStringParameters": query.get("multiValueQueryStringParameters", {}),
        "stageVariables": {},
        "requestContext": websocket_request_context(stage, client, "CONNECT", "$connect", epoch_ms),
    }


@dataclass(frozen=True)
class AuthorizerVerdict:
    """What the authorizer decided: 200 with `requestContext.authorizer`, or the handshake's status."""

    status: int
    authorizer: dict[str, Any] | None = None
    #: Why a 500 is a 500, for the log.
    problem: str = ""


class MalformedPolicyError(ValueError):
    """The authorizer returned something API Gateway cannot use as a policy."""


def verdict_of(invocation: Invocation, arn: str) -> AuthorizerVerdict:
    if invocation.timed_out:
        return AuthorizerVerdict(500, problem="the authorizer timed out")
    if invocation.error is not None:
        if invocation.error.get("errorMessage") == UNAUTHORIZED_MESSAGE:
            return AuthorizerVerdict(401)
        error = f"{invocation.error.get('errorType')}: {invocation.error.get('errorMessage')}"
        return AuthorizerVerdict(500, problem=f"the authorizer failed: {error}")
    try:
        return _policy_verdict(invocation.result, arn)
    except MalformedPolicyError as exc:
        return AuthorizerVerdict(500, problem=f"the authorizer's policy is malformed: {exc}")


def _policy_verdict(result: Any, arn: str) -> AuthorizerVerdict:
    if not isinstance(result, dict):
        raise MalformedPolicyError(
            f"a {type(result).__name__}, not an object with principalId and policyDocument"
        )
    principal = result.get("principalId")
    if not isinstance(principal, str) or not principal:
        raise MalformedPolicyError("principalId must be a non-empty string")
    context = result.get("context") or {}
    if not isinstance(context, dict):
        raise MalformedPolicyError("context must be an object")
    for key, value in context.items():
        if not isinstance(value, str | int | float | bool):
            raise MalformedPolicyError(
                f"context[{key!r}] is a {type(value).__name__}: only strings, numbers and booleans"
            )
    effects = {statement_effect(statement, arn) for statement in _statements(result.get("policyDocument"))}
    # An explicit Deny wins over any Allow, as in IAM; no statement for this ARN is a Deny too.
    if "Allow" in effects and "Deny" not in effects:
        return AuthorizerVerdict(200, authorizer={**context, "principalId": principal})
    return AuthorizerVerdict(403)


def _statements(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict):
        raise MalformedPolicyError("policyDocument must be an object")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicyError("policyDocument.Statement must be a non-empty list")
    if not all(isinstance(statement, dict) for statement in statements):
        raise MalformedPolicyError("every policyDocument.Statement must be an object")
    return statements


def statement_effect(statement: dict[str, Any], arn: str) -> str | None:
    """ "Allow" or "Deny" when the statement covers invoking `arn`, else None."""
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise MalformedPolicyError(f"Effect must be Allow or Deny, got {effect!r}")
    actions = _strings(statement.get("Action"), "Action")
    resources = _strings(statement.get("Resource"), "Resource")
    if not _INVOKE_ACTIONS.intersection(actions):
        return None
    return effect if any(_matches(resource, arn) for resource in resources) else None


def _strings(value: Any, name: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(item, str) for item in values):
        raise MalformedPolicyError(f"{name} must be a string or a list of strings")
    return values


def _matches(pattern: str, arn: str) -> bool:
    """IAM's resource match: `*` any run of characters, `?` any one."""
    expression = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(expression, arn) is not None
