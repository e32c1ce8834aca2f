"""The emulator's Lambda Invoke API, driven by boto3's Lambda client as the function's instances
point it there, signing with the run's credentials.

The function is `tests.e2e.apps:handler`, which counts its invocations per instance: one instance
serves these tests in turn, so the count shows which calls really ran the function.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.dev_server import DevServer

#: boto3's Lambda client; the project's type stubs cover only the services the runtime's stores use.
LambdaClient = Any

FUNCTION = "asgiway-dev"
#: A payload the handler answers with its count of invocations (an HTTP API event for "/").
COUNT = {"rawPath": "/", "requestContext": {}}


@pytest.fixture(scope="module")
def server() -> Iterator[DevServer]:
    with DevServer("tests.e2e.apps:handler", "--timeout", "2") as running:
        yield running


@pytest.fixture
def lambda_client(server: DevServer) -> LambdaClient:
    return server.client("lambda")


def payload_of(answer: Any) -> Any:
    return json.loads(answer["Payload"].read())


def invocations(client: LambdaClient) -> int:
    """How many times the instance has run the function, this call included."""
    counted: int = json.loads(
        payload_of(client.invoke(FunctionName=FUNCTION, Payload=json.dumps(COUNT)))["body"]
    )["invocations"]
    return counted


def test_request_response_answers_200_with_the_result(lambda_client: LambdaClient) -> None:
    event = {"rawPath": "/inferred", "requestContext": {}}
    answer = lambda_client.invoke(
        FunctionName=FUNCTION, InvocationType="RequestResponse", Payload=json.dumps(event)
    )
    assert answer["StatusCode"] == 200
    assert "FunctionError" not in answer
    assert payload_of(answer) == {"inferred": True}


def test_a_function_error_is_unhandled_in_lambdas_error_shape(lambda_client: LambdaClient) -> None:
    event = {"rawPath": "/raise", "requestContext": {}}
    answer = lambda_client.invoke(FunctionName=FUNCTION, Payload=json.dumps(event))
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    error = payload_of(answer)
    assert (error["errorType"], error["errorMessage"]) == ("RuntimeError", "asked to fail")
    assert any("raise RuntimeError" in line for line in error["stackTrace"])


def test_a_function_that_runs_out_of_time_is_unhandled_too(lambda_client: LambdaClient) -> None:
    event = {"rawPath": "/slow", "queryStringParameters": {"seconds": "60"}, "requestContext": {}}
    answer = lambda_client.invoke(FunctionName=FUNCTION, Payload=json.dumps(event))
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    assert payload_of(answer) == {"errorMessage": "Task timed out after 2.00 seconds"}


def test_dry_run_answers_204_without_running_the_function(lambda_client: LambdaClient) -> None:
    before = invocations(lambda_client)
    answer = lambda_client.invoke(FunctionName=FUNCTION, InvocationType="DryRun", Payload=json.dumps(COUNT))
    assert answer["StatusCode"] == 204
    assert answer["Payload"].read() == b""
    assert invocations(lambda_client) == before + 1


@pytest.mark.parametrize("payload", [b"not json", b'{"a": 1', b"\xff\xfe"])
def test_a_payload_that_is_not_json_is_refused_as_lambda_refuses_it(
    lambda_client: LambdaClient, payload: bytes
) -> None:
    before = invocations(lambda_client)
    with pytest.raises(ClientError) as refused:
        lambda_client.invoke(FunctionName=FUNCTION, Payload=payload)
    response = refused.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert response["Error"]["Code"] == "InvalidRequestContentException"
    assert response["Error"]["Message"].startswith(
        "Could not parse request body into json: Could not parse payload into json: "
    )
    assert invocations(lambda_client) == before + 1
