"""Lambda@Edge viewer-request and origin-request events, through the whole Adapter, as CloudFront sends."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from asgiway import Adapter
from asgiway.sources import LambdaEdge, infer_http_source
from asgiway.testing import LambdaContextStub
from asgiway.types import AdapterConfig

LoadEvent = Callable[[str], dict[str, Any]]
VIEWER = "lambda-edge-viewer-request.json"
ORIGIN = "lambda-edge-origin-request.json"


async def inspect(request: Request) -> JSONResponse:
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "raw_path": request.scope["raw_path"].decode(),
            "query": sorted(request.query_params.multi_items()),
            "scheme": request.url.scheme,
            "server": list(request.scope["server"]),
            "client": request.client.host if request.client else None,
            "tags": request.headers.getlist("x-request-tag"),
            "cookies": request.cookies,
            "body": (await request.body()).decode(),
        },
        headers={"set-cookie": "seen=1", "x-powered-by": "asgiway"},
    )


async def logo(request: Request) -> Response:
    return Response(b"\x89PNG\r\n\x1a\n", media_type="image/png")


APP = Starlette(routes=[Route("/logo.png", logo), Route("/{rest:path}", inspect, methods=["GET", "POST"])])


def serve(event: dict[str, Any], **options: Any) -> dict[str, Any]:
    reply: dict[str, Any] = Adapter(APP, lifespan="off", **options)(event, LambdaContextStub())
    return reply


def test_a_viewer_request_reaches_the_app_as_the_viewer_sent_it(aws_event: LoadEvent) -> None:
    reply = serve(aws_event(VIEWER))
    assert reply["status"] == "200"
    assert reply["statusDescription"] == "OK"
    assert reply["bodyEncoding"] == "text"
    assert json.loads(reply["body"]) == {
        "method": "GET",
        "path": "/catalogue/green tea",
        "raw_path": "/catalogue/green%20tea",
        "query": [["category", "tea"], ["sort", "price asc"]],
        "scheme": "https",
        "server": ["shop.example", 443],
        "client": "198.51.100.77",
        "tags": ["blue", "green"],
        "cookies": {"cart": "7", "theme": "dark"},
        "body": "",
    }
    # CloudFront's header shape: lowercase names, each value a {key, value} with the display spelling.
    assert reply["headers"]["set-cookie"] == [{"key": "Set-Cookie", "value": "seen=1"}]
    assert reply["headers"]["x-powered-by"] == [{"key": "X-Powered-By", "value": "asgiway"}]
    assert reply["headers"]["content-type"] == [{"key": "Content-Type", "value": "application/json"}]


def test_an_origin_request_brings_its_body_and_the_viewers_protocol(aws_event: LoadEvent) -> None:
    event = aws_event(ORIGIN)
    event["Records"][0]["cf"]["request"]["headers"]["cloudfront-forwarded-proto"][0]["value"] = "http"
    body = json.loads(serve(event)["body"])
    assert body["method"] == "POST"
    assert body["body"] == '{"quantity": 3}'
    assert body["scheme"] == "http"
    assert body["server"] == ["origin.shop.example", 80]
    assert body["client"] == "2001:db8:4::17"


def test_a_text_body_is_taken_as_it_is(aws_event: LoadEvent) -> None:
    event = aws_event(ORIGIN)
    event["Records"][0]["cf"]["request"]["body"].update(encoding="text", data="plain words")
    assert json.loads(serve(event)["body"])["body"] == "plain words"


def test_binary_responses_go_back_base64(aws_event: LoadEvent) -> None:
    event = aws_event(VIEWER)
    event["Records"][0]["cf"]["request"]["uri"] = "/logo.png"
    reply = serve(event)
    assert reply["bodyEncoding"] == "base64"
    assert base64.b64decode(reply["body"]) == b"\x89PNG\r\n\x1a\n"


def test_a_truncated_body_is_refused_with_413_before_the_app_runs(
    aws_event: LoadEvent, caplog: pytest.LogCaptureFixture
) -> None:
    """CloudFront passes at most 40 KB (viewer) or 1 MB (origin) of a body and marks it truncated:
    the app must not take part of a body for all of it."""
    called: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        called.append(scope["type"])

    event = aws_event(ORIGIN)
    event["Records"][0]["cf"]["request"]["body"]["inputTruncated"] = True
    with caplog.at_level(logging.ERROR, logger="asgiway"):
        reply = Adapter(app, lifespan="off")(event, LambdaContextStub())
    assert (reply["status"], reply["body"]) == ("413", "Payload Too Large")
    assert called == []
    assert "CloudFront truncated the request body of this origin-request event" in caplog.text


def test_headers_cloudfront_refuses_are_left_out_and_logged(
    aws_event: LoadEvent, caplog: pytest.LogCaptureFixture
) -> None:
    """A generated response carrying a disallowed header fails CloudFront's validation (502):
    https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/edge-function-restrictions-all.html"""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [
            (b"connection", b"close"),
            (b"x-forwarded-proto", b"https"),
            (b"x-amz-cf-pop", b"FRA56"),
            (b"x-edge-location", b"here"),
            (b"transfer-encoding", b"chunked"),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    with caplog.at_level(logging.INFO, logger="asgiway"):
        reply = Adapter(app, lifespan="off")(aws_event(VIEWER), LambdaContextStub())
    assert reply["headers"] == {"cache-control": [{"key": "Cache-Control", "value": "no-store"}]}
    assert (
        "Left out headers CloudFront refuses in a generated response: connection, x-forwarded-proto, "
        "x-amz-cf-pop, x-edge-location, transfer-encoding" in caplog.text
    )


@pytest.mark.parametrize(("name", "limit"), [(VIEWER, 40 * 1024), (ORIGIN, 1024 * 1024)])
def test_a_response_over_cloudfronts_limit_is_logged_with_the_limit(
    aws_event: LoadEvent, caplog: pytest.LogCaptureFixture, name: str, limit: int
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"x" * limit})

    with caplog.at_level(logging.ERROR, logger="asgiway"):
        reply = Adapter(app, lifespan="off")(aws_event(name), LambdaContextStub())
    assert reply["status"] == "200"
    assert f"over the {limit} CloudFront allows" in caplog.text


def test_a_response_within_the_limit_logs_nothing(
    aws_event: LoadEvent, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="asgiway"):
        serve(aws_event(VIEWER))
    assert caplog.records == []


@pytest.mark.parametrize("trigger", ["origin-response", "viewer-response", "something-else"])
def test_response_triggers_are_no_source_of_requests(aws_event: LoadEvent, trigger: str) -> None:
    """An app makes its own response; modifying CloudFront's is not what it does."""
    event = aws_event(VIEWER)
    event["Records"][0]["cf"]["config"]["eventType"] = trigger
    assert infer_http_source(event, None, AdapterConfig()) is None
    assert serve(event)["statusCode"] == 400


def test_the_event_is_claimed_by_the_lambda_edge_source(aws_event: LoadEvent) -> None:
    for name in (VIEWER, ORIGIN):
        assert isinstance(infer_http_source(aws_event(name), None, AdapterConfig()), LambdaEdge)


def test_a_malformed_request_is_a_400_in_cloudfronts_shape(aws_event: LoadEvent) -> None:
    event = aws_event(VIEWER)
    del event["Records"][0]["cf"]["request"]["method"]
    reply = serve(event)
    assert (reply["status"], reply["body"], reply["bodyEncoding"]) == ("400", "Bad Request", "text")


def test_lambda_edge_requests_wait_for_the_function_not_api_gateway(aws_event: LoadEvent) -> None:
    """Lambda@Edge functions have their own timeouts, which Lambda enforces."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(2)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    handler = Adapter(app, lifespan="off", api_gateway_timeout=1.0)
    assert handler(aws_event(VIEWER), LambdaContextStub(timeout_seconds=30))["status"] == "204"
