"""Each HTTP source shapes a real app's response into the Lambda return value its service expects."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from asgiway.protocols.http import HTTPCycle
from asgiway.sources import infer_http_source
from asgiway.sources.alb import MAX_SINGLE_VALUE_COOKIES, case_variants, status_description
from asgiway.sources.response import encode_body
from asgiway.types import DEFAULT_TEXT_MIME_TYPES, AdapterConfig, ASGIApp, Message, Receive, Scope, Send

#: The `aws_event` fixture: an indexed event fixture by file name.
LoadEvent = Callable[[str], dict[str, Any]]

REST = "api-gateway-rest-proxy.json"
HTTP_API_V1 = "api-gateway-http-payload-1.0.json"
HTTP_API = "api-gateway-http-payload-2.0.json"
FUNCTION_URL = "function-url.json"
ALB_MULTI = "alb-multi-value-headers.json"
ALB_SINGLE = "alb-single-value-headers.json"
ALL = [REST, HTTP_API_V1, HTTP_API, FUNCTION_URL, ALB_MULTI, ALB_SINGLE]
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"


def path_event(aws_event: LoadEvent, name: str, path: str, method: str = "GET") -> dict[str, Any]:
    """The event fixture `name`, asking for `method path`."""
    event: dict[str, Any] = aws_event(name)
    if "rawPath" in event:
        event["rawPath"] = path
        event["requestContext"]["http"]["method"] = method
    else:
        event["path"] = path
        event["httpMethod"] = method
    return event


def serve(event: dict[str, Any], app: ASGIApp, config: AdapterConfig | None = None) -> dict[str, Any]:
    """What the Lambda returns for `event`: the source's shaping of the app's answer."""
    source = infer_http_source(event, None, config or AdapterConfig())
    assert source is not None
    response: dict[str, Any] = source(asyncio.run(HTTPCycle(source.scope, source.body).run(app)))
    return response


def headers_of(response: dict[str, Any]) -> dict[str, list[str]]:
    """Every header of a Lambda response as name -> values, whichever fields carry them."""
    merged: dict[str, list[str]] = {}
    for name, value in (response.get("headers") or {}).items():
        merged.setdefault(name.lower(), []).append(value)
    for name, values in (response.get("multiValueHeaders") or {}).items():
        merged.setdefault(name.lower(), []).extend(values)
    if response.get("cookies"):
        merged.setdefault("set-cookie", []).extend(response["cookies"])
    return merged


async def png(request: Request) -> Response:
    return Response(PNG, media_type="image/png")


async def text(request: Request) -> Response:
    return PlainTextResponse("héllo ✓")


async def echo(request: Request) -> Response:
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.query_params.multi_items(),
            "body": (await request.body()).decode(),
            "cookies": request.cookies,
        }
    )


async def yaml(request: Request) -> Response:
    return Response("a: 1\n", media_type="application/x-yaml")


async def gzipped(request: Request) -> Response:
    return Response(
        gzip.compress(b"compressed text"), media_type="text/plain", headers={"content-encoding": "gzip"}
    )


async def latin1(request: Request) -> Response:
    return Response("café".encode("latin-1"), media_type="text/plain; charset=latin-1")


async def cookies(request: Request) -> Response:
    response = PlainTextResponse("ok")
    for index in range(int(request.query_params.get("n", "2"))):
        response.set_cookie(f"c{index}", f"v{index}", expires=3600)
    response.headers["x-internal"] = "secret"
    response.headers.append("vary", "Accept")
    response.headers.append("vary", "Cookie")
    return response


async def empty(request: Request) -> Response:
    return Response(status_code=204)


async def missing(request: Request) -> Response:
    return PlainTextResponse("nope", status_code=404)


async def stream(request: Request) -> Response:
    async def chunks() -> Any:
        for part in (b"one,", b"two,", b"three"):
            yield part

    return StreamingResponse(chunks(), media_type="text/csv")


APP = Starlette(
    routes=[
        Route("/png", png),
        Route("/text", text),
        Route("/echo", echo, methods=["GET", "POST"]),
        Route("/yaml", yaml),
        Route("/gzip", gzipped),
        Route("/latin1", latin1),
        Route("/cookies", cookies),
        Route("/empty", empty),
        Route("/missing", missing),
        Route("/stream", stream),
    ]
)


# --- bodies: text or base64 -------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_binary_body_goes_back_base64(aws_event: LoadEvent, name: str) -> None:
    response = serve(path_event(aws_event, name, "/png"), APP)

    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == PNG
    assert headers_of(response)["content-type"] == ["image/png"]


@pytest.mark.parametrize("name", ALL)
def test_text_body_goes_back_as_text(aws_event: LoadEvent, name: str) -> None:
    response = serve(path_event(aws_event, name, "/text"), APP)

    assert response["isBase64Encoded"] is False
    assert response["body"] == "héllo ✓"
    assert headers_of(response)["content-type"] == ["text/plain; charset=utf-8"]
    assert headers_of(response)["content-length"] == [str(len("héllo ✓".encode()))]


@pytest.mark.parametrize("name", ALL)
def test_request_reaches_the_app_intact(aws_event: LoadEvent, name: str) -> None:
    event = path_event(aws_event, name, "/echo", method="POST")
    event["body"] = base64.b64encode('{"x": "é"}'.encode()).decode()
    event["isBase64Encoded"] = True

    response = serve(event, APP)

    assert response["isBase64Encoded"] is False
    assert json.loads(response["body"])["body"] == '{"x": "é"}'
    assert json.loads(response["body"])["method"] == "POST"


def test_the_http_api_fixture_reaches_the_app_with_query_and_cookies(aws_event: LoadEvent) -> None:
    event = path_event(aws_event, HTTP_API, "/echo", method="POST")

    seen = json.loads(serve(event, APP)["body"])

    assert seen["path"] == "/echo"
    assert seen["query"] == [["lang", "fr"], ["lang", "de"], ["draft", "true"]]
    assert seen["cookies"] == {"theme": "dark", "session": "7f3a9c"}
    assert seen["body"] == '{"title": "groceries", "items": ["eggs", "flour"]}'


def test_text_mime_types_can_be_extended(aws_event: LoadEvent) -> None:
    event = path_event(aws_event, HTTP_API, "/yaml")

    default = serve(event, APP)
    extended = serve(
        event, APP, AdapterConfig(text_mime_types=(*DEFAULT_TEXT_MIME_TYPES, "application/x-yaml"))
    )

    assert default["isBase64Encoded"] is True
    assert base64.b64decode(default["body"]) == b"a: 1\n"
    assert extended["isBase64Encoded"] is False
    assert extended["body"] == "a: 1\n"


def test_compressed_text_goes_back_base64(aws_event: LoadEvent) -> None:
    response = serve(path_event(aws_event, REST, "/gzip"), APP)

    assert response["isBase64Encoded"] is True
    assert gzip.decompress(base64.b64decode(response["body"])) == b"compressed text"
    assert headers_of(response)["content-encoding"] == ["gzip"]


def test_text_that_is_not_utf8_goes_back_base64_unchanged(aws_event: LoadEvent) -> None:
    response = serve(path_event(aws_event, FUNCTION_URL, "/latin1"), APP)

    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == "café".encode("latin-1")


@pytest.mark.parametrize(
    ("content_type", "is_text"),
    [
        ("text/html; charset=utf-8", True),
        ("TEXT/CSV", True),
        ("application/json", True),
        ("application/vnd.api+json; charset=utf-8", True),
        ("image/svg+xml", True),
        ("application/octet-stream", False),
        ("image/png", False),
        ("", False),
    ],
)
def test_text_is_a_prefix_match_on_the_mime_type(content_type: str, is_text: bool) -> None:
    headers = {"content-type": [content_type]} if content_type else {}

    assert encode_body(b"abc", headers, DEFAULT_TEXT_MIME_TYPES) == (
        ("abc", False) if is_text else ("YWJj", True)
    )


@pytest.mark.parametrize("name", ALL)
def test_empty_body(aws_event: LoadEvent, name: str) -> None:
    response = serve(path_event(aws_event, name, "/empty"), APP)

    assert response["statusCode"] == 204
    assert response["body"] == ""
    assert response["isBase64Encoded"] is False


@pytest.mark.parametrize("name", ALL)
def test_head_keeps_headers_and_drops_the_body(aws_event: LoadEvent, name: str) -> None:
    response = serve(path_event(aws_event, name, "/text", method="HEAD"), APP)

    assert response["statusCode"] == 200
    assert response["body"] == ""
    assert response["isBase64Encoded"] is False
    assert headers_of(response)["content-length"] == [str(len("héllo ✓".encode()))]


@pytest.mark.parametrize("name", ALL)
def test_streamed_response_is_returned_whole(aws_event: LoadEvent, name: str) -> None:
    response = serve(path_event(aws_event, name, "/stream"), APP)

    assert response["statusCode"] == 200
    assert response["body"] == "one,two,three"
    assert headers_of(response)["content-type"] == ["text/csv; charset=utf-8"]


@pytest.mark.parametrize("name", ALL)
def test_app_exception_is_a_500(aws_event: LoadEvent, name: str, caplog: pytest.LogCaptureFixture) -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("boom")

    with caplog.at_level(logging.ERROR, logger="asgiway"):
        response = serve(aws_event(name), broken)

    assert response["statusCode"] == 500
    assert response["body"] == "Internal Server Error"
    assert headers_of(response)["content-type"] == ["text/plain; charset=utf-8"]
    assert caplog.records[0].exc_info is not None


# --- headers: exclusion, repeats and cookies, per source --------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_exclude_headers_removes_them(aws_event: LoadEvent, name: str) -> None:
    event = path_event(aws_event, name, "/cookies")

    kept = headers_of(serve(event, APP))
    excluded = headers_of(serve(event, APP, AdapterConfig(exclude_headers=frozenset({"x-internal", "vary"}))))

    assert kept["x-internal"] == ["secret"]
    assert "x-internal" not in excluded
    assert "vary" not in excluded
    assert excluded["content-type"] == ["text/plain; charset=utf-8"]
    assert len(excluded["set-cookie"]) == 2


def test_payload_2_returns_cookies_and_joins_repeats(aws_event: LoadEvent) -> None:
    response = serve(path_event(aws_event, HTTP_API, "/cookies"), APP)

    # Each cookie stays whole although its Expires date holds a comma.
    assert [cookie.split("; ")[0] for cookie in response["cookies"]] == ["c0=v0", "c1=v1"]
    assert all(
        re.fullmatch(r"c\d=v\d; expires=\w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT; Path=/; SameSite=lax", cookie)
        for cookie in response["cookies"]
    )
    assert "set-cookie" not in response["headers"]
    assert response["headers"]["vary"] == "Accept, Cookie"
    assert set(response) == {"statusCode", "body", "isBase64Encoded", "headers", "cookies"}


def test_function_url_without_cookies_returns_an_empty_list(aws_event: LoadEvent) -> None:
    response = serve(path_event(aws_event, FUNCTION_URL, "/text"), APP)

    assert response["cookies"] == []
    assert response["headers"]["content-type"] == "text/plain; charset=utf-8"


def test_payload_1_repeats_go_in_multi_value_headers(aws_event: LoadEvent) -> None:
    response = serve(path_event(aws_event, REST, "/cookies"), APP)

    assert [cookie.split(";")[0] for cookie in response["multiValueHeaders"]["set-cookie"]] == [
        "c0=v0",
        "c1=v1",
    ]
    assert response["multiValueHeaders"]["vary"] == ["Accept", "Cookie"]
    assert response["headers"]["x-internal"] == "secret"
    assert "set-cookie" not in response["headers"]
    assert "x-internal" not in response["multiValueHeaders"]


def test_payload_1_single_cookie_goes_in_headers(aws_event: LoadEvent) -> None:
    event = path_event(aws_event, REST, "/cookies")
    event["multiValueQueryStringParameters"] = {"n": ["1"]}

    response = serve(event, APP)

    assert response["headers"]["set-cookie"].startswith("c0=v0;")
    assert "set-cookie" not in response["multiValueHeaders"]


def test_alb_multi_value_answers_with_multi_value_headers(aws_event: LoadEvent) -> None:
    response = serve(path_event(aws_event, ALB_MULTI, "/cookies"), APP)

    assert "headers" not in response
    assert [cookie.split(";")[0] for cookie in response["multiValueHeaders"]["set-cookie"]] == [
        "c0=v0",
        "c1=v1",
    ]
    assert response["multiValueHeaders"]["vary"] == ["Accept", "Cookie"]
    assert response["multiValueHeaders"]["x-internal"] == ["secret"]
    assert response["statusDescription"] == "200 OK"


def test_alb_single_value_answers_with_headers_and_keeps_every_cookie(aws_event: LoadEvent) -> None:
    event = path_event(aws_event, ALB_SINGLE, "/cookies")
    event["queryStringParameters"] = {"n": "3"}

    response = serve(event, APP)

    assert "multiValueHeaders" not in response
    headers = response["headers"]
    cookie_keys = [name for name in headers if name.lower() == "set-cookie"]
    assert cookie_keys == ["set-cookie", "Set-cookie", "sEt-cookie"]
    assert [headers[key].split(";")[0] for key in cookie_keys] == ["c0=v0", "c1=v1", "c2=v2"]
    assert headers["vary"] == "Accept, Cookie"
    assert headers["x-internal"] == "secret"
    assert response["statusDescription"] == "200 OK"


def test_alb_single_value_cookie_limit_is_logged(
    aws_event: LoadEvent, caplog: pytest.LogCaptureFixture
) -> None:
    event = path_event(aws_event, ALB_SINGLE, "/cookies")
    event["queryStringParameters"] = {"n": str(MAX_SINGLE_VALUE_COOKIES + 2)}

    with caplog.at_level(logging.WARNING, logger="asgiway"):
        response = serve(event, APP)

    assert sum(name.lower() == "set-cookie" for name in response["headers"]) == 512
    assert "2 dropped" in caplog.text


def test_alb_status_description(aws_event: LoadEvent) -> None:
    response = serve(path_event(aws_event, ALB_MULTI, "/missing"), APP)

    assert response["statusCode"] == 404
    assert response["statusDescription"] == "404 Not Found"
    assert response["body"] == "nope"


@pytest.mark.parametrize(
    ("status", "description"), [(200, "200 OK"), (418, "418 I'm a Teapot"), (599, "599")]
)
def test_status_description_values(status: int, description: str) -> None:
    assert status_description(status) == description


def test_case_variants_are_distinct_spellings_of_one_name() -> None:
    variants = list(case_variants("set-cookie"))

    assert variants[:4] == ["set-cookie", "Set-cookie", "sEt-cookie", "SEt-cookie"]
    assert len(variants) == len(set(variants)) == MAX_SINGLE_VALUE_COOKIES
    assert {variant.lower() for variant in variants} == {"set-cookie"}


def test_headers_sent_as_lists_are_accepted(aws_event: LoadEvent) -> None:
    async def raw(scope: Scope, receive: Receive, send: Send) -> None:
        start: Message = {
            "type": "http.response.start",
            "status": 201,
            "headers": [[b"Content-Type", b"application/json"], [b"X-Trace", b"1"]],
        }
        await send(start)
        await send({"type": "http.response.body", "body": b'{"ok": true}'})

    response = serve(aws_event(HTTP_API), raw)

    assert response == {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-trace": "1"},
        "cookies": [],
        "body": '{"ok": true}',
        "isBase64Encoded": False,
    }
