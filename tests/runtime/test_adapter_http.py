"""HTTP events through the whole Adapter: every fixture, a real Starlette app, bounded time."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from asgiway import Adapter
from asgiway.exceptions import ConfigurationError
from asgiway.testing import LambdaContextStub, http_event


async def inspect(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": sorted(request.query_params.multi_items()),
            "body": body.decode(),
            "lifespan": request.state.ready,
        },
        headers={"set-cookie": "a=1"},
    )


async def png(request: Request) -> Response:
    return Response(b"\x89PNG\r\n", media_type="image/png")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, bool]]:
    yield {"ready": True}


APP = Starlette(
    routes=[Route("/image", png), Route("/{rest:path}", inspect, methods=["GET", "POST", "PUT"])],
    lifespan=lifespan,
)


@pytest.mark.parametrize(
    ("name", "method", "path", "query"),
    [
        (
            "api-gateway-rest-proxy.json",
            "GET",
            "/orders/42",
            [["page", "2"], ["tag", "blue"], ["tag", "green"]],
        ),
        (
            "api-gateway-http-payload-1.0.json",
            "POST",
            "/reports",
            [["region", "apac"], ["region", "emea"], ["year", "2025"]],
        ),
        (
            "api-gateway-http-payload-2.0.json",
            "POST",
            "/notes/n-1042",
            [["draft", "true"], ["lang", "de"], ["lang", "fr"]],
        ),
        ("function-url.json", "GET", "/", []),
        ("alb-multi-value-headers.json", "GET", "/inventory", []),
        ("alb-single-value-headers.json", "GET", "/inventory", []),
    ],
)
def test_every_http_fixture_reaches_the_app(
    aws_event: Any, name: str, method: str, path: str, query: list[list[str]]
) -> None:
    reply = Adapter(APP)(aws_event(name), LambdaContextStub())
    assert reply["statusCode"] == 200
    body = json.loads(reply["body"])
    assert body["method"] == method
    assert body["path"] == path
    assert body["query"] == query
    assert body["lifespan"] is True


def test_binary_responses_go_back_base64() -> None:
    reply = Adapter(APP)(http_event("GET", "/image"), LambdaContextStub())
    assert reply["isBase64Encoded"] is True
    assert base64.b64decode(reply["body"]) == b"\x89PNG\r\n"


def test_unknown_events_answer_400_and_log_a_clear_error(caplog: pytest.LogCaptureFixture) -> None:
    reply = Adapter(APP)({"Records": [{"eventSource": "aws:sqs"}]}, LambdaContextStub())
    assert reply["statusCode"] == 400
    assert reply["body"] == "Bad Request"
    assert "no supported source (a dict with keys ['Records'])" in caplog.text


def test_a_malformed_http_event_answers_400_in_its_sources_shape(caplog: pytest.LogCaptureFixture) -> None:
    event = http_event("GET", "/")
    event["body"], event["isBase64Encoded"] = "not base64!", True
    reply = Adapter(APP)(event, LambdaContextStub())
    assert (reply["statusCode"], reply["body"], reply["cookies"]) == (400, "Bad Request", [])
    assert "APIGatewayV2 event: MalformedEventError: body is marked isBase64Encoded but" in caplog.text
    del event["requestContext"]["http"]["method"]
    event["isBase64Encoded"] = False
    assert Adapter(APP)(event, LambdaContextStub())["statusCode"] == 400
    assert "KeyError: 'method'" in caplog.text


def test_a_slow_http_app_is_cut_at_the_lambda_deadline() -> None:
    async def slow(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(60)

    reply = Adapter(slow, lifespan="off")(http_event(), LambdaContextStub(timeout_seconds=1.5))
    assert reply["statusCode"] == 504
    assert reply["body"] == "Gateway Timeout"


def test_an_app_whose_own_task_is_cancelled_answers_500() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            helper = asyncio.ensure_future(asyncio.sleep(10))
            asyncio.get_running_loop().call_soon(helper.cancel)
            await helper

    reply = Adapter(app, lifespan="off")(http_event(), LambdaContextStub())
    assert reply["statusCode"] == 500
    assert reply["body"] == "Internal Server Error"


async def answers_after_two_seconds(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await asyncio.sleep(2)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("api-gateway-rest-proxy.json", 504),
        ("api-gateway-http-payload-1.0.json", 504),
        ("api-gateway-http-payload-2.0.json", 504),
        # A Function URL runs as long as the function may; an ALB's idle timeout is the user's.
        ("function-url.json", 200),
        ("alb-multi-value-headers.json", 200),
    ],
)
def test_only_api_gateway_requests_are_cut_at_its_integration_timeout(
    aws_event: Any, name: str, status: int
) -> None:
    """2 s of work against a 1 s integration timeout, with 30 s of Lambda time left: the bounds are
    far apart on either side, so no machine is slow enough to change the answer."""
    handler = Adapter(answers_after_two_seconds, lifespan="off", api_gateway_timeout=1.0)
    assert handler(aws_event(name), LambdaContextStub(timeout_seconds=30))["statusCode"] == status


class ContextWithoutClock:
    aws_request_id = "no-clock"


class MangumStyleContext:
    """Mangum's test double: the method exists and raises."""

    def get_remaining_time_in_millis(self) -> int:
        raise NotImplementedError


class ContextAnsweringNonsense:
    def get_remaining_time_in_millis(self) -> str:
        return "soon"


@pytest.mark.parametrize(
    "context", [None, ContextWithoutClock(), MangumStyleContext(), ContextAnsweringNonsense()]
)
def test_a_context_that_cannot_tell_the_time_gets_api_gateways_bound(context: Any) -> None:
    assert Adapter(APP)(http_event("GET", "/x"), context)["statusCode"] == 200
    # The stand-in bound is API Gateway's timeout, never none at all.
    cut = Adapter(answers_after_two_seconds, lifespan="off", api_gateway_timeout=1.0)
    assert cut(http_event("GET", "/x"), context)["statusCode"] == 504


@pytest.mark.parametrize("seconds", [0, 0.5, -3])
def test_an_api_gateway_timeout_leaving_no_time_is_refused(seconds: float) -> None:
    with pytest.raises(ConfigurationError, match=r"api_gateway_timeout must be more than 0\.5 s"):
        Adapter(APP, api_gateway_timeout=seconds)
