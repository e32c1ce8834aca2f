"""The emulator's decisions, one at a time: what a handler is, what a result means, what a close says."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter
from asgiway.exceptions import ConfigurationError
from asgiway.local.events import canonical_header_name, new_id
from asgiway.local.http_api import response_from
from asgiway.local.instances import Invocation
from asgiway.local.lambda_api import names_function
from asgiway.local.loader import default_websocket_path, is_asgi_app
from asgiway.local.websocket_session import closed_with, handshake_answer, internal_error_frame


async def endpoint(websocket: WebSocket) -> None:
    await websocket.close()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {}


async def raw_asgi(scope: Any, receive: Any, send: Any) -> None:
    return None


def test_asgi_apps_are_told_from_lambda_handlers() -> None:
    app = Starlette()
    assert is_asgi_app(app)
    assert is_asgi_app(raw_asgi)
    assert not is_asgi_app(lambda_handler)
    assert not is_asgi_app(Adapter(app, lifespan="off"))


@pytest.mark.parametrize(
    ("routes", "path"),
    [
        ([WebSocketRoute("/ws", endpoint)], "/ws"),
        ([Route("/", lambda_handler), WebSocketRoute("/live", endpoint)], "/live"),
        ([Mount("/api", routes=[WebSocketRoute("/ws", endpoint)])], "/api/ws"),
        ([Route("/", lambda_handler)], "/"),
        ([], "/"),
    ],
)
def test_the_websocket_path_is_the_only_websocket_route(routes: list[Any], path: str) -> None:
    assert default_websocket_path(Starlette(routes=routes)) == path
    # Behind middleware, as `app.add_middleware` or a wrapper class leaves it.
    assert default_websocket_path(CORSMiddleware(Starlette(routes=routes), allow_origins=["*"])) == path


def test_a_plain_asgi_app_gets_the_root_path() -> None:
    assert default_websocket_path(raw_asgi) == "/"


@pytest.mark.parametrize(
    ("routes", "listed"),
    [
        ([WebSocketRoute("/a", endpoint), WebSocketRoute("/b", endpoint)], "/a, /b"),
        ([WebSocketRoute("/items/{item_id}/ws", endpoint)], "/items/{item_id}/ws"),
    ],
)
def test_no_path_is_guessed_where_there_is_no_one_answer(routes: list[Any], listed: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        default_websocket_path(Starlette(routes=routes))
    message = str(raised.value)
    assert f"the app's WebSocket routes are {listed}" in message
    assert "--websocket-path" in message


def test_ids_take_api_gateways_16_character_form() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert {len(connection_id) for connection_id in ids} == {16}
    assert all(connection_id.endswith("=") for connection_id in ids)


@pytest.mark.parametrize(
    ("name", "spelled"),
    [("sec-websocket-key", "Sec-WebSocket-Key"), ("x-amzn-trace-id", "X-Amzn-Trace-Id"), ("host", "Host")],
)
def test_header_names_are_spelled_as_clients_send_them(name: str, spelled: str) -> None:
    assert canonical_header_name(name) == spelled


def test_a_proxy_result_becomes_the_response_cookies_and_base64_included() -> None:
    result = {
        "statusCode": 201,
        "headers": {"Content-Type": "image/png", "X-Id": 7},
        "cookies": ["a=1", "b=2; Secure"],
        "body": base64.b64encode(b"\x89PNG").decode(),
        "isBase64Encoded": True,
    }
    response = response_from(Invocation(result=result))
    assert response.status == 201
    assert response.headers == [
        (b"content-type", b"image/png"),
        (b"x-id", b"7"),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2; Secure"),
    ]
    assert response.body == b"\x89PNG"


@pytest.mark.parametrize(
    "result",
    [
        {"statusCode": "200"},
        {"statusCode": 99},
        {"statusCode": True},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "body": "***", "isBase64Encoded": True},
    ],
)
def test_a_malformed_result_is_a_502(result: dict[str, Any]) -> None:
    response = response_from(Invocation(result=result))
    assert (response.status, response.body) == (502, b'{"message":"Internal Server Error"}')


@pytest.mark.parametrize("result", [None, [1, 2], "plain", {"statusless": True}])
def test_a_result_without_status_code_is_json_200(result: Any) -> None:
    response = response_from(Invocation(result=result))
    assert response.status == 200
    assert response.headers == [(b"content-type", b"application/json")]


@pytest.mark.parametrize(
    ("invocation", "answer"),
    [
        (Invocation(result={"statusCode": 200, "headers": {"sec-websocket-protocol": "v2"}}), 200),
        (Invocation(result={"statusCode": 401, "body": "no"}), 401),
        (Invocation(error={"errorType": "RuntimeError"}), 502),
        (Invocation(result=None), 502),
        (Invocation(result={"statusCode": "200"}), 502),
        (Invocation(timed_out=True), 504),
    ],
)
def test_the_connect_result_answers_the_handshake(invocation: Invocation, answer: int) -> None:
    assert handshake_answer(invocation).status == answer


def test_a_close_frame_without_status_and_a_dropped_socket_are_told_apart() -> None:
    assert closed_with({"type": "websocket.disconnect", "code": 1005, "reason": ""}) == closed_with(
        {"type": "websocket.disconnect", "code": 1005, "reason": None}
    )
    assert closed_with({"type": "websocket.disconnect", "code": 1005, "reason": ""}).reason == (
        "Client-side close frame status not set"
    )
    assert closed_with({"type": "websocket.disconnect", "code": 1005}).code == 1006
    assert closed_with({"type": "websocket.disconnect", "code": 4001, "reason": "bye"}).reason == "bye"


def test_the_emulator_stopping_is_reported_as_api_gateway_going_away() -> None:
    """uvicorn closes its clients with 1012 and no reason when it stops."""
    assert closed_with({"type": "websocket.disconnect", "code": 1012}) == closed_with(
        {"type": "websocket.disconnect", "code": 1001, "reason": "Going away"}
    )
    assert closed_with({"type": "websocket.disconnect", "code": 1012}).code == 1001


def test_the_error_frame_has_api_gateways_spacing() -> None:
    assert internal_error_frame("Ab=", "Cd=") == (
        b'{"message": "Internal server error", "connectionId":"Ab=", "requestId":"Cd="}'
    )


@pytest.mark.parametrize(
    ("requested", "named"),
    [
        ("asgiway-dev", True),
        ("arn:aws:lambda:us-east-1:123456789012:function:asgiway-dev", True),
        ("123456789012:function:asgiway-dev", True),
        ("arn:aws:lambda:us-east-1:123456789012:function:asgiway-dev:$LATEST", True),
        ("other", False),
        ("arn:aws:lambda:us-east-1:123456789012:function:asgiway-dev-2", False),
    ],
)
def test_the_invoke_api_serves_only_this_function(requested: str, named: bool) -> None:
    assert names_function(requested, "asgiway-dev") is named
