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
