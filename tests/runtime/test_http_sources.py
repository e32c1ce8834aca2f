"""The HTTP sources turn the event fixtures, and variations of them, into the exact ASGI scope and body."""

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
    HTTPSource,
    LambdaEdge,
    infer_http_source,
)
from asgiway.types import AdapterConfig
from tests.fixtures import event_index

#: The `aws_event` fixture: an indexed event fixture by file name.
LoadEvent = Callable[[str], dict[str, Any]]

REST = "api-gateway-rest-proxy.json"
HTTP_API_V1 = "api-gateway-http-payload-1.0.json"
HTTP_API = "api-gateway-http-payload-2.0.json"
FUNCTION_URL = "function-url.json"
ALB_MULTI = "alb-multi-value-headers.json"
ALB_SINGLE = "alb-single-value-headers.json"
#: The adapter's source for each source a fixture may declare: payload 2.0 serves HTTP APIs and Function URLs.
SOURCE_CLASSES: dict[str, type[HTTPSource]] = {
    "api_gateway_v1": APIGatewayV1,
    "api_gateway_v2": APIGatewayV2,
    "function_url": APIGatewayV2,
    "alb": ALB,
    "lambda_edge": LambdaEdge,
}
#: Every HTTP event fixture and the source its index entry declares, the oracle for inference.
HTTP_EVENTS = {
    name: SOURCE_CLASSES[fixture.source]
    for name, fixture in event_index().items()
    if fixture.source != "websocket"
}
#: Those of proxy integrations (API Gateway, Function URL, ALB): a top-level `body` and `isBase64Encoded`.
PROXY_EVENTS = [name for name, source in HTTP_EVENTS.items() if source is not LambdaEdge]
WEBSOCKET_EVENTS = [name for name, fixture in event_index().items() if fixture.source == "websocket"]
ASGI = {"version": "3.0", "spec_version": "2.3"}
CONTEXT = SimpleNamespace(aws_request_id="request-1", get_remaining_time_in_millis=lambda: 30_000)


def source_for(event: dict[str, Any], config: AdapterConfig | None = None) -> Any:
    source = infer_http_source(event, CONTEXT, config or AdapterConfig())
    assert source is not None
    return source


# --- the fixtures, field by field -------------------------------------------------------------


def test_rest_api_event_scope(aws_event: LoadEvent) -> None:
    event = aws_event(REST)
    source = source_for(event)
    host = b"r8d3f6h1jk.execute-api.eu-central-1.amazonaws.com"

    assert isinstance(source, APIGatewayV1)
    assert source.scope == {
        "type": "http",
        "asgi": ASGI,
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/orders/42",
        "raw_path": b"/orders/42",
        "root_path": "",
        "query_string": b"tag=blue&tag=green&page=2",
        "headers": [
            (b"accept", b"application/json"),
            (b"host", host),
            (b"user-agent", b"HTTPie/3.2.4"),
            (b"x-amzn-trace-id", b"Root=1-696f8771-11993e5b4a1bf7c685b8b50f"),
            (b"x-forwarded-for", b"198.51.100.23"),
            (b"x-forwarded-port", b"443"),
            (b"x-forwarded-proto", b"https"),
            (b"x-request-tag", b"blue"),
            (b"x-request-tag", b"green"),
        ],
        "client": ("198.51.100.23", 0),
        "server": (host.decode(), 443),
        "aws.event": event,
        "aws.context": CONTEXT,
    }
    assert "state" not in source.scope
    # A REST API sends a null body for a request without one.
    assert source.body == b""


def test_http_api_payload_1_event_scope(aws_event: LoadEvent) -> None:
    event = aws_event(HTTP_API_V1)
    source = source_for(event)

    assert isinstance(source, APIGatewayV1)
    assert source.scope == {
        "type": "http",
        "asgi": ASGI,
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/reports",
        "raw_path": b"/reports",
        "root_path": "",
        "query_string": b"region=emea&region=apac&year=2025",
        "headers": [
            (b"content-type", b"application/json"),
            (b"origin", b"https://dashboard.asgiway.example"),
            (b"x-report-scope", b"team"),
            (b"x-report-scope", b"org"),
        ],
        "client": ("198.51.100.61", 0),
        # No Host header in this event: the API's domain name stands in.
        "server": ("v1p9c3n7ka.execute-api.us-west-2.amazonaws.com", 443),
        "aws.event": event,
        "aws.context": CONTEXT,
    }
    assert "state" not in source.scope
    assert source.body == b'{"period": "monthly", "format": "csv"}'


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
        "path": "/notes/n-1042",
        "raw_path": b"/notes/n-1042",
        "root_path": "",
        "query_string": b"lang=fr&lang=de&draft=true",
        "headers": [
            (b"content-type", b"application/json"),
            (b"x-request-tag", b"blue,green"),
            (b"cookie", b"theme=dark; session=7f3a9c"),
        ],
        "client": ("203.0.113.77", 0),
        "server": ("h2t5v8y1bq.execute-api.us-west-2.amazonaws.com", 443),
        "aws.event": event,
        "aws.context": CONTEXT,
    }
    assert source.body == b'{"title": "groceries", "items": ["eggs", "flour"]}'


def test_function_url_event_scope(aws_event: LoadEvent) -> None:
    event = aws_event(FUNCTION_URL)
    source = source_for(event)
    scope = source.scope
    host = "c4vd7wq2zy6mnr3kpxe9tj5hfa8ub1go.lambda-url.eu-north-1.on.aws"

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
        "client": ("192.0.2.188", 0),
        "server": (host, 443),
        "aws.event": event,
        "aws.context": CONTEXT,
    }
    assert len(scope["headers"]) == 21
    assert scope["headers"][:3] == [
        (b"x-amzn-tls-cipher-suite", b"TLS_AES_128_GCM_SHA256"),
        (b"x-amzn-tls-version", b"TLSv1.3"),
        (b"x-amzn-trace-id", b"Root=1-69708b30-14a6d5aedc2cdd5e4d797967"),
    ]
    assert (b"sec-ch-ua", b'"Not(A:Brand";v="99", "Chromium";v="133"') in scope["headers"]
    assert (b"host", host.encode()) in scope["headers"]
    assert not any(name == b"cookie" for name, _ in scope["headers"])
    assert source.body == b""


def test_alb_multi_value_event_scope(aws_event: LoadEvent) -> None:
    event = aws_event(ALB_MULTI)
    source = source_for(event)
    host = b"asgiway-alb-2093847561.eu-west-2.elb.amazonaws.com"

    assert isinstance(source, ALB)
    assert source.scope == {
        "type": "http",
        "asgi": ASGI,
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/inventory",
        "raw_path": b"/inventory",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"accept", b"application/json"),
            (b"cache-control", b"no-cache"),
            (b"cache-control", b"max-age=0"),
            (b"host", host),
            (b"user-agent", b"Wget/1.24.5"),
            (b"x-amzn-trace-id", b"Root=1-69735dd0-28edcf1a82dc64fbf80c20f6"),
            (b"x-forwarded-for", b"192.0.2.61"),
            (b"x-forwarded-port", b"80"),
            (b"x-forwarded-proto", b"http"),
        ],
        "client": ("192.0.2.61", 0),
        "server": (host.decode(), 80),
        "aws.event": event,
        "aws.context": CONTEXT,
    }
    assert source.body == b""


def test_alb_single_value_event_scope(aws_event: LoadEvent) -> None:
    event = aws_event(ALB_SINGLE)
    source = source_for(event)
    host = b"asgiway-alb-single-1188290475.eu-west-2.elb.amazonaws.com"

    assert isinstance(source, ALB)
    assert source.scope == {
        "type": "http",
        "asgi": ASGI,
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/inventory",
        "raw_path": b"/inventory",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"accept", b"application/json"),
            (b"host", host),
            (b"user-agent", b"Wget/1.24.5"),
            (b"x-amzn-trace-id", b"Root=1-69735dd6-2272112c9a0b4e7d51f3c86e"),
            (b"x-forwarded-for", b"192.0.2.62"),
            (b"x-forwarded-port", b"443"),
            (b"x-forwarded-proto", b"https"),
        ],
        "client": ("192.0.2.62", 0),
        "server": (host.decode(), 443),
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


def test_sources_are_tried_alb_then_payload_2_then_payload_1_then_cloudfront() -> None:
    assert (ALB, APIGatewayV2, APIGatewayV1, LambdaEdge) == HTTP_SOURCES


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


#: Each service's event fixture, by the name of the service.
SERVICE_EVENTS = {
    "rest": REST,
    "function-url": FUNCTION_URL,
    "alb": ALB_MULTI,
    "http-api-1.0": HTTP_API_V1,
    "http-api-2.0": HTTP_API,
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
    event = aws_event(SERVICE_EVENTS[service])
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


def test_rest_maps_missing_from_the_multi_value_ones_are_still_read(aws_event: LoadEvent) -> None:
    """AWS's own sample event and the console's test events list fewer names in the multi-value
    maps than in the single-value ones (Host, User-Agent and X-Amzn-Trace-Id missing); both maps
    make the request. https://docs.aws.amazon.com/apigateway/latest/developerguide/
    set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format"""
    event = aws_event(REST)
    for name in ("Host", "User-Agent", "X-Amzn-Trace-Id"):
        del event["multiValueHeaders"][name]
    event["queryStringParameters"]["lang"] = "fr"  # a key the multi-value map lacks

    scope = source_for(event).scope
    request = Request(scope)

    assert request.headers["host"] == "r8d3f6h1jk.execute-api.eu-central-1.amazonaws.com"
    assert scope["server"] == ("r8d3f6h1jk.execute-api.eu-central-1.amazonaws.com", 443)
    assert request.headers["user-agent"] == "HTTPie/3.2.4"
    assert request.headers["x-amzn-trace-id"] == "Root=1-696f8771-11993e5b4a1bf7c685b8b50f"
    # What both maps name comes once, from the multi-value map, with every value.
    assert request.headers.getlist("x-request-tag") == ["blue", "green"]
    assert request.query_params.multi_items() == [
        ("tag", "blue"),
        ("tag", "green"),
        ("page", "2"),
        ("lang", "fr"),
    ]


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
    event = aws_event(ALB_SINGLE)
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
    event = aws_event(ALB_SINGLE)
    # "http", not the fixture's "https": with no x-forwarded-proto at all the scheme would be https.
    event["headers"].update({"Host": "example.com:8443", "X-Forwarded-Proto": "http"})
    del event["headers"]["host"]
    del event["headers"]["x-forwarded-proto"]

    scope = source_for(event).scope

    assert (b"host", b"example.com:8443") in scope["headers"]
    assert scope["scheme"] == "http"
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


@pytest.mark.parametrize("name", PROXY_EVENTS)
def test_base64_body_is_decoded(aws_event: LoadEvent, name: str) -> None:
    event = aws_event(name)
    event["body"] = base64.b64encode(b"\x00\xffbinary\x89PNG").decode()
    event["isBase64Encoded"] = True

    assert source_for(event).body == b"\x00\xffbinary\x89PNG"


@pytest.mark.parametrize("name", PROXY_EVENTS)
def test_text_body_is_utf8_encoded(aws_event: LoadEvent, name: str) -> None:
    event = aws_event(name)
    event["body"] = "héllo ✓"
    event["isBase64Encoded"] = False

    assert source_for(event).body == "héllo ✓".encode()


@pytest.mark.parametrize("name", PROXY_EVENTS)
@pytest.mark.parametrize("body", [None, "", "absent"])
def test_missing_body_is_empty(aws_event: LoadEvent, name: str, body: str | None) -> None:
    event = aws_event(name)
    if body == "absent":
        event.pop("body", None)
    else:
        event["body"] = body

    assert source_for(event).body == b""
