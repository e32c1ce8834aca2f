"""The events `asgiway dev` hands a Lambda handler have the shape of the AWS event fixtures."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.sync.client import connect
from websockets.typing import Origin, Subprotocol

from tests.e2e.apps import EVENTS_FOLDER_VARIABLE
from tests.e2e.test_dev_http import fetch
from tests.support.dev_server import DevServer
from tests.support.waits import ARRIVAL_SECONDS

AwsEvent = Callable[[str], dict[str, Any]]


def recorded(folder: Path, kind: str) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(folder.glob(f"*-{kind}.json"))]


def test_websocket_and_http_events_match_the_fixtures(tmp_path: Path, aws_event: AwsEvent) -> None:
    with DevServer("tests.e2e.apps:handler", environment={EVENTS_FOLDER_VARIABLE: str(tmp_path)}) as server:
        with connect(
            f"{server.websocket_url}?room=lobby&tag=a&tag=b",
            open_timeout=ARRIVAL_SECONDS,
            origin=Origin("http://127.0.0.1"),
            subprotocols=[Subprotocol("chat.v1")],
            user_agent_header="probe/1.0",
        ) as client:
            client.send('{"a": 1}')
            client.close(4001, "done")
        fetch(
            f"{server.origin}/some/path?x=1&x=2", b"{}", {"Content-Type": "application/json", "Cookie": "k=v"}
        )
        server.wait_for_line(r"DISCONNECT .* 4001 done")
    (connected,) = recorded(tmp_path, "CONNECT")
    (message,) = recorded(tmp_path, "MESSAGE")
    (disconnected,) = recorded(tmp_path, "DISCONNECT")
    (http,) = recorded(tmp_path, "HTTP")

    connect_fixture = aws_event("websocket-connect.json")
    query_keys = {"queryStringParameters", "multiValueQueryStringParameters"}
    assert set(connected) == set(connect_fixture) | query_keys
    assert set(connected["requestContext"]) == set(connect_fixture["requestContext"])
    headers = connected["headers"]
    assert list(headers) == sorted(headers, key=str.lower)
    assert {"Host", "Origin", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Protocol"} <= set(
        headers
    )
    assert {"X-Amzn-Trace-Id", "X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto"} <= set(headers)
    assert not {"Connection", "Upgrade"} & set(headers)
    assert headers["User-Agent"] == "probe/1.0"
    assert connected["multiValueHeaders"]["Origin"] == ["http://127.0.0.1"]
    assert connected["queryStringParameters"] == {"room": "lobby", "tag": "b"}
    assert connected["multiValueQueryStringParameters"] == {"room": ["lobby"], "tag": ["a", "b"]}
    context = connected["requestContext"]
    assert context["identity"] == {"userAgent": "probe/1.0", "sourceIp": "127.0.0.1"}
    assert len(context["connectionId"]) == len(connect_fixture["requestContext"]["connectionId"]) == 16
    assert context["stage"] == "dev"

    message_fixture = aws_event("websocket-message.json")
    assert set(message) == set(message_fixture)
    assert set(message["requestContext"]) == set(message_fixture["requestContext"])
    assert (message["body"], message["isBase64Encoded"]) == ('{"a": 1}', False)
    assert message["requestContext"]["connectionId"] == context["connectionId"]
    assert message["requestContext"]["connectedAt"] == context["connectedAt"]

    disconnect_fixture = aws_event("websocket-disconnect.json")
    assert set(disconnected) == set(disconnect_fixture)
    assert set(disconnected["requestContext"]) == set(disconnect_fixture["requestContext"])
    assert set(disconnected["headers"]) == set(disconnect_fixture["headers"])
    assert disconnected["requestContext"]["disconnectStatusCode"] == 4001
    assert disconnected["requestContext"]["disconnectReason"] == "done"

    http_fixture = aws_event("api-gateway-http-payload-2.0.json")
    features_not_in_play = {"pathParameters", "stageVariables"}
    assert set(http) == set(http_fixture) - features_not_in_play | {"queryStringParameters"}
    assert set(http["requestContext"]) == set(http_fixture["requestContext"]) - {
        "authentication",
        "authorizer",
    }
    assert set(http["requestContext"]["http"]) == set(http_fixture["requestContext"]["http"])
    assert http["rawPath"] == "/some/path"
    assert http["queryStringParameters"] == {"x": "1,2"}
    assert http["cookies"] == ["k=v"]
    assert "cookie" not in http["headers"]
    assert (http["body"], http["isBase64Encoded"]) == ("{}", False)
