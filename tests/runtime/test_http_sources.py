"""The HTTP event sources turn real and hand-made AWS events into the exact ASGI scope and body."""

from __future__ import annotations

import base64
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from asgiway.sources import (
    ALB,
    HTTP_SOURCES,
    APIGatewayV1,
    APIGatewayV2,
    infer_http_source,
)
from asgiway.types import AdapterConfig

#: The `aws_event` fixture: a recorded event by file name.
LoadEvent = Callable[[str], dict[str, Any]]

REST = "powertools-python_apiGatewayProxyEvent.json"
HTTP_API = "powertools-python_apiGatewayProxyV2Event.json"
FUNCTION_URL = "powertools-python_lambdaFunctionUrlEvent.json"
ALB_MULTI = "powertools-python_albMultiValueHeadersEvent.json"
HTTP_EVENTS = {REST: APIGatewayV1, HTTP_API: APIGatewayV2, FUNCTION_URL: APIGatewayV2, ALB_MULTI: ALB}
WEBSOCKET_EVENTS = [
    "powertools-python_apiGatewayWebSocketApiConnect.json",
    "powertools-python_apiGatewayWebSocketApiMessage.json",
    "powertools-python_apiGatewayWebSocketApiDisconnect.json",
    "aws-lambda-go_apigw-websocket-request-send-message.json",
    "aws-lambda-go_apigw-websocket-request-disconnect.json",
]
ASGI = {"version": "3.0", "spec_version": "2.3"}
CONTEXT = SimpleNamespace(aws_request_id="request-1", get_remaining_time_in_millis=lambda: 30_000)


def source_for(event: dict[str, Any], config: AdapterConfig | None = None) -> Any:
    source = infer_http_source(event, CONTEXT, config or AdapterConfig())
    assert source is not None
    return source


def alb_single_value(event: dict[str, Any]) -> dict[str, Any]:
    """The same ALB request as a target group without multi-value headers sends it."""
    event["headers"] = {name: values[-1] for name, values in event.pop("multiValueHeaders").items()}
    event["queryStringParameters"] = {
        name: values[-1] for name, values in event.pop("multiValueQueryStringParameters").items()
    }
    return event


# --- the recorded events, field by field -----------------------------------------------------


def test_http_api_payload_1_event_scope(aws_event: LoadEvent) -> None:
    event = aws_event(REST)
    source = source_for(event)

    assert isinstance(source, APIGatewayV1)
    assert source.scope == {
        "type": "http",
        "asgi": ASGI,
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/my/path",
        "raw_path": b"/my/path",
        "root_path": "",
        "query_string": b"parameter1=value1&parameter1=value2&parameter2=value",
        "headers": [
            (b"header1", b"value1"),
            (b"origin", b"https://aws.amazon.com"),
            (b"header2", b"value1"),
            (b"header2", b"value2"),
        ],
        "client": ("192.168.0.1/32", 0),
        # No Host header in this event: the API's domain name stands in.
        "server": ("id.execute-api.us-east-1.amazonaws.com", 443),
        "aws.event": event,
        "aws.context": CONTEXT,
    }
    assert "state" not in source.scope
    assert source.body == b"Hello from Lambda!"


def test_http_api_payload_2_event_scope(aws_event: LoadEvent) -> None:
    event = aws_event(HTTP_API)
    source = source_for(event)

    assert isinstance(source, APIGatewayV2)
    assert source.scope == {
        "type": "http",
        "asgi": ASGI,
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/my/path",
        "raw_path": b"/my/path",
        "root_path": "",
        "query_string": b"parameter1=value1&parameter1=value2&parameter2=value",
        "headers": [
            (b"header1", b"value1"),
            (b"header2", b"value1,value2"),
            (b"cookie", b"cookie1; cookie2"),
        ],
        "client": ("192.168.0.1/32", 0),
        "server": ("id.execute-api.us-east-1.amazonaws.com", 443),
        "aws.event": event,
        "aws.context": CONTEXT,
    }
    assert source.body == b'{"message": "hello world", "username": "tom"}'


def test_function_url_event_scope(aws_event: LoadEvent) -> None:
    event = aws_event(FUNCTION_URL)
    source = source_for(event)
    scope = source.scope

    assert isinstance(source, APIGatewayV2)
    assert {key: value for key, value in scope.items() if key != "headers"} == {
        "type": "http",
        "asgi": ASGI,
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "client": ("123.123.123.123", 0),
        "server": ("<url-id>.lambda-url.us-east-1.on.aws", 443),
        "aws.event": event,
        "aws.context": CONTEXT,
    }
    assert len(scope["headers"]) == 20
    assert scope["headers"][:3] == [
        (b"sec-fetch-mode", b"navigate"),
        (b"x-amzn-tls-version", b"TLSv1.2"),
        (b"sec-fetch-site", b"cross-site"),
    ]
    assert (b"sec-ch-ua", b'" Not A;Brand";v="99", "Chromium";v="102", "Google Chrome";v="102"') in scope[
        "headers"
    ]
    assert (b"host", b"<url-id>.lambda-url.us-east-1.on.aws") in scope["headers"]
    assert not any(name == b"cookie" for name, _ in scope["headers"])
    assert source.body == b""


def test_alb_multi_value_event_scope(aws_event: LoadEvent) -> None:
    event = aws_event(ALB_MULTI)
    source = source_for(event)
    host = b"alb-c-LoadB-14POFKYCLBNSF-1815800096.eu-central-1.elb.amazonaws.com"

    assert isinstance(source, ALB)
    assert source.scope == {
        "type": "http",
        "asgi": ASGI,
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/todos",
        "raw_path": b"/todos",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"accept", b"*/*"),
            (b"host", host),
            (b"user-agent", b"curl/7.79.1"),
            (b"x-amzn-trace-id", b"Root=1-62fa9327-21cdd4da4c6db451490a5fb7"),
            (b"x-forwarded-for", b"123.123.123.123"),
            (b"x-forwarded-port", b"80"),
            (b"x-forwarded-proto", b"http"),
        ],
        "client": ("123.123.123.123", 0),
        "server": (host.decode(), 80),
        "aws.event": event,
        "aws.context": CONTEXT,
    }
    assert source.body == b""


# --- which source claims which event ----------------------------------------------------------


@pytest.mark.parametrize(("name", "expected"), HTTP_EVENTS.items())
def test_each_http_event_is_claimed_by_exactly_its_source(
    aws_event: LoadEvent, name: str, expected: type
) -> None:
    event = aws_event(name)
    claims = [source for source in HTTP_SOURCES if source.infer(event, None, AdapterConfig())]

    assert claims == [expected]


def test_sources_are_tried_alb_then_payload_2_then_payload_1() -> None:
    assert (ALB, APIGatewayV2, APIGatewayV1) == HTTP_SOURCES


@pytest.mark.parametrize("name", WEBSOCKET_EVENTS)
def test_websocket_events_have_no_http_source(aws_event: LoadEvent, name: str) -> None:
    event = aws_event(name)
    # A WebSocket event that also had an httpMethod must still not pass for a REST request.
    event["httpMethod"] = "GET"

    assert not APIGatewayV1.infer(event, None, AdapterConfig())
    assert infer_http_source(event, None, AdapterConfig()) is None


@pytest.mark.parametrize(
    "event",
    [{}, {"Records": [{"eventSource": "aws:s3"}]}, {"httpMethod": "GET"}, {"version": "2.0"}],
)
def test_other_events_have_no_http_source(event: dict[str, Any]) -> None:
    assert infer_http_source(event, None, AdapterConfig()) is None


# --- paths: encoded as received or decoded, and the base path ---------------------------------


#: Each service's event, by the name of the service.
SERVICE_EVENTS: dict[str, Callable[[LoadEvent], dict[str, Any]]] = {
    # The payload 1.0 fixture as a REST API sends it: REST events carry no `version`.
    "rest": lambda load: {key: value for key, value in load(REST).items() if key != "version"},
    "function-url": lambda load: load(FUNCTION_URL),
    "alb": lambda load: load(ALB_MULTI),
    "http-api-1.0": lambda load: load(REST),
    "http-api-2.0": lambda load: load(HTTP_API),
}


@pytest.mark.parametrize(
    ("service", "received", "path", "raw_path"),
    [
        # REST, Function URLs and ALB pass the path on percent-encoded as the client sent it.
        ("rest", "/files/a%20b%2Fc/%C3%A9", "/files/a b/c/é", b"/files/a%20b%2Fc/%C3%A9"),
        ("function-url", "/a%20b/%C3%A9/x%2Fy", "/a b/é/x/y", b"/a%20b/%C3%A9/x%2Fy"),
        ("alb", "/todos/a%2Fb%20c", "/todos/a/b c", b"/todos/a%2Fb%20c"),
        # An HTTP API decodes it, in both payload formats: decoding again would be wrong.
        ("http-api-1.0", "/files/100%/a b", "/files/100%/a b", b"/files/100%25/a%20b"),
        ("http-api-2.0", "/a b/é/50%41", "/a b/é/50%41", b"/a%20b/%C3%A9/50%2541"),
    ],
)
def test_path_and_raw_path_follow_what_each_service_sends(
    aws_event: LoadEvent, service: str, received: str, path: str, raw_path: bytes
) -> None:
    event = SERVICE_EVENTS[service](aws_event)
    event["rawPath" if "rawPath" in event else "path"] = received

    scope = source_for(event).scope

    assert scope["path"] == path
    assert scope["raw_path"] == raw_path


@pytest.mark.parametrize("base_path", ["/api", "api", "/api/"])
@pytest.mark.parametrize(
    ("received", "path"),
    [("/api/users/7", "/users/7"), ("/api", "/"), ("/api/", "/"), ("/apis/x", "/apis/x"), ("/x", "/x")],
)
@pytest.mark.parametrize("name", [REST, HTTP_API, ALB_MULTI])
def test_api_gateway_base_path_is_stripped(
    aws_event: LoadEvent, name: str, base_path: str, received: str, path: str
) -> None:
    event = aws_event(name)
    event["rawPath" if "rawPath" in event else "path"] = received

    scope = source_for(event, AdapterConfig(api_gateway_base_path=base_path)).scope

    assert scope["path"] == path
    assert scope["raw_path"] == path.encode()
    assert scope["root_path"] == ""


def test_default_base_path_strips_nothing(aws_event: LoadEvent) -> None:
    event = aws_event(HTTP_API)
    event["rawPath"] = "/api/users"

    assert source_for(event).scope["path"] == "/api/users"


# --- query strings: repeated keys, percent-encoding right for each source ---------------------


def test_rest_query_parameters_are_encoded_again(aws_event: LoadEvent) -> None:
    event = aws_event(REST)
    event["multiValueQueryStringParameters"] = {"q": ["a b&c", "é"], "x": ["1=2"]}
    event["queryStringParameters"] = {"q": "é", "x": "1=2"}

    scope = source_for(event).scope

    assert scope["query_string"] == b"q=a+b%26c&q=%C3%A9&x=1%3D2"
    assert Request(scope).query_params.multi_items() == [("q", "a b&c"), ("q", "é"), ("x", "1=2")]


def test_rest_single_value_query_parameters(aws_event: LoadEvent) -> None:
    event = aws_event(REST)
    event["multiValueQueryStringParameters"] = None
    event["queryStringParameters"] = {"name": "Zoë", "empty": ""}

    assert source_for(event).scope["query_string"] == b"name=Zo%C3%AB&empty="


def test_rest_without_query_parameters(aws_event: LoadEvent) -> None:
    event = aws_event(REST)
    event["multiValueQueryStringParameters"] = None
    event["queryStringParameters"] = None

    assert source_for(event).scope["query_string"] == b""


def test_payload_2_raw_query_string_is_kept(aws_event: LoadEvent) -> None:
    event = aws_event(HTTP_API)
    event["rawQueryString"] = "q=a%20b&q=c%26d&e=%C3%A9"

    scope = source_for(event).scope

    assert scope["query_string"] == b"q=a%20b&q=c%26d&e=%C3%A9"
    assert Request(scope).query_params.multi_items() == [("q", "a b"), ("q", "c&d"), ("e", "é")]


def test_alb_multi_value_query_is_not_encoded_twice(aws_event: LoadEvent) -> None:
    event = aws_event(ALB_MULTI)
    event["multiValueQueryStringParameters"] = {"q": ["a%20b", "c%26d"], "e": ["%C3%A9"]}

    scope = source_for(event).scope

    assert scope["query_string"] == b"q=a%20b&q=c%26d&e=%C3%A9"
    assert Request(scope).query_params.multi_items() == [("q", "a b"), ("q", "c&d"), ("e", "é")]


def test_alb_single_value_query_is_not_encoded_twice(aws_event: LoadEvent) -> None:
    event = alb_single_value(aws_event(ALB_MULTI))
    event["queryStringParameters"] = {"q": "a%2Bb", "plus": "x+y"}

    scope = source_for(event).scope

    assert scope["query_string"] == b"q=a%2Bb&plus=x+y"
    assert dict(Request(scope).query_params) == {"q": "a+b", "plus": "x y"}


# --- headers, cookies, client, server ----------------------------------------------------------


def test_payload_1_cookie_headers_become_one_cookie_header(aws_event: LoadEvent) -> None:
    event = aws_event(REST)
    event["multiValueHeaders"]["Cookie"] = ["a=1", "b=2"]

    scope = source_for(event).scope

    assert [value for name, value in scope["headers"] if name == b"cookie"] == [b"a=1; b=2"]
    assert Request(scope).cookies == {"a": "1", "b": "2"}


def test_payload_2_cookies_list_becomes_the_cookie_header(aws_event: LoadEvent) -> None:
    event = aws_event(HTTP_API)
    event["cookies"] = ["session=abc", "theme=dark"]

    scope = source_for(event).scope

    assert [value for name, value in scope["headers"] if name == b"cookie"] == [b"session=abc; theme=dark"]
    assert Request(scope).cookies == {"session": "abc", "theme": "dark"}


def test_alb_single_value_headers(aws_event: LoadEvent) -> None:
    event = alb_single_value(aws_event(ALB_MULTI))
    event["headers"].update({"Host": "example.com:8443", "X-Forwarded-Proto": "https"})
    del event["headers"]["host"]
    del event["headers"]["x-forwarded-proto"]

    scope = source_for(event).scope

    assert (b"host", b"example.com:8443") in scope["headers"]
    assert scope["scheme"] == "https"
    assert scope["server"] == ("example.com", 8443)


def test_alb_client_is_the_address_the_load_balancer_appended(aws_event: LoadEvent) -> None:
    event = aws_event(ALB_MULTI)
    event["multiValueHeaders"]["x-forwarded-for"] = ["203.0.113.9, 198.51.100.7"]

    assert source_for(event).scope["client"] == ("198.51.100.7", 0)


def test_alb_without_forwarded_for_has_no_client(aws_event: LoadEvent) -> None:
    event = aws_event(ALB_MULTI)
    del event["multiValueHeaders"]["x-forwarded-for"]

    assert source_for(event).scope["client"] is None


def test_scheme_and_server_port_follow_x_forwarded_proto(aws_event: LoadEvent) -> None:
    event = aws_event(HTTP_API)
    event["headers"].update({"Host": "api.example.com", "X-Forwarded-Proto": "http"})

    scope = source_for(event).scope

    assert scope["scheme"] == "http"
    assert scope["server"] == ("api.example.com", 80)


# --- bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", HTTP_EVENTS)
def test_base64_body_is_decoded(aws_event: LoadEvent, name: str) -> None:
    event = aws_event(name)
    event["body"] = base64.b64encode(b"\x00\xffbinary\x89PNG").decode()
    event["isBase64Encoded"] = True

    assert source_for(event).body == b"\x00\xffbinary\x89PNG"


@pytest.mark.parametrize("name", HTTP_EVENTS)
def test_text_body_is_utf8_encoded(aws_event: LoadEvent, name: str) -> None:
    event = aws_event(name)
    event["body"] = "héllo ✓"
    event["isBase64Encoded"] = False

    assert source_for(event).body == "héllo ✓".encode()


@pytest.mark.parametrize("name", HTTP_EVENTS)
@pytest.mark.parametrize("body", [None, "", "absent"])
def test_missing_body_is_empty(aws_event: LoadEvent, name: str, body: str | None) -> None:
    event = aws_event(name)
    if body == "absent":
        event.pop("body", None)
    else:
        event["body"] = body

    assert source_for(event).body == b""
