"""HTTP through `asgiway dev`: HTTP API payload 2.0 events in, Lambda proxy results out."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.dev_server import DevServer


@pytest.fixture(scope="module")
def app_server() -> Iterator[DevServer]:
    with DevServer("tests.e2e.apps:app") as running:
        yield running


@pytest.fixture(scope="module")
def handler_server() -> Iterator[DevServer]:
    with DevServer("tests.e2e.apps:handler", "--timeout", "2") as running:
        yield running


def fetch(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any, str]:
    """(status, headers, body) of one request, error statuses included."""
    request = urllib.request.Request(url, data, headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers, refused.read().decode()


def test_a_get_reaches_the_app_with_its_query_and_cookies(app_server: DevServer) -> None:
    status, headers, body = fetch(
        f"{app_server.origin}/request?a=1&a=2&b=x", headers={"Cookie": "session=abc; theme=dark"}
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    seen = json.loads(body)
    assert seen["method"] == "GET"
    assert seen["path"] == "/request"
    assert seen["query"] == "a=1&a=2&b=x"
    assert seen["cookies"] == {"session": "abc", "theme": "dark"}
    assert seen["forwarded_for"] == "127.0.0.1"
    app_server.wait_for_line(r"HTTP\s+GET /request\s+\$default\s+200")


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [("application/json", b'{"text": "h\\u00e9"}'), ("application/octet-stream", bytes(range(256)))],
)
def test_a_post_body_arrives_intact_text_or_binary(
    app_server: DevServer, content_type: str, payload: bytes
) -> None:
    status, _, body = fetch(f"{app_server.origin}/request", payload, {"Content-Type": content_type})
    assert status == 200
    seen = json.loads(body)
    assert seen["content_type"] == content_type
    assert seen["body"].encode("latin-1") == payload


def test_the_page_of_the_chat_knows_where_its_websocket_is() -> None:
    with DevServer("examples.chat.app:app") as server:
        status, _, page = fetch(f"{server.origin}/")
    assert status == 200
    assert f'new WebSocket("{server.websocket_url}?"' in page


def test_a_result_without_status_code_is_a_json_200(handler_server: DevServer) -> None:
    status, headers, body = fetch(f"{handler_server.origin}/inferred")
    assert (status, headers["content-type"], json.loads(body)) == (
        200,
        "application/json",
        {"inferred": True},
    )


def test_a_raising_handler_answers_api_gateways_500(handler_server: DevServer) -> None:
    assert fetch(f"{handler_server.origin}/raise")[::2] == (500, '{"message":"Internal Server Error"}')
    handler_server.wait_for_line(r"HTTP\s+GET /raise\s+\$default\s+500 .*RuntimeError: asked to fail")


def test_a_timed_out_handler_answers_500_and_its_instance_is_replaced(handler_server: DevServer) -> None:
    assert fetch(f"{handler_server.origin}/slow?seconds=5")[0] == 500
    handler_server.wait_for_line(r"GET /slow .*timed out after 2 s")
    assert fetch(f"{handler_server.origin}/")[0] == 200


def test_a_crashed_instance_answers_500_and_is_replaced(handler_server: DevServer) -> None:
    assert fetch(f"{handler_server.origin}/crash")[0] == 500
    handler_server.wait_for_line(r"GET /crash .*Runtime.ExitError")
    assert fetch(f"{handler_server.origin}/")[0] == 200


@pytest.mark.parametrize(
    "path", ["/headers-as-list", "/header-with-newline", "/cookies-as-text", "/status-as-text"]
)
def test_a_malformed_result_answers_502_and_injects_nothing(handler_server: DevServer, path: str) -> None:
    status, headers, body = fetch(f"{handler_server.origin}{path}")
    assert (status, body) == (502, '{"message":"Internal Server Error"}')
    assert "x-injected" not in headers
    handler_server.wait_for_line(rf"GET {path}\s+\$default\s+502")


def test_a_result_that_is_not_json_is_a_function_error(handler_server: DevServer) -> None:
    assert fetch(f"{handler_server.origin}/unserializable")[0] == 500
    handler_server.wait_for_line(r"GET /unserializable .*Runtime.MarshalError")


def test_a_body_over_lambdas_6_mb_is_refused_before_invoking(app_server: DevServer) -> None:
    # 4.8 MB of bytes is 6.4 MB of base64 in the event, over Lambda's 6 MiB: the limit is the event's.
    payload = b"\x00" * 4_800_000
    status, _, body = fetch(
        f"{app_server.origin}/request", payload, {"Content-Type": "application/octet-stream"}
    )
    assert (status, body[:100]) == (413, '{"message":"Request Entity Too Large"}')
