"""Every way an app or an event can misbehave has a defined, bounded outcome and no traceback out."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from asgiway import Adapter, ConfigurationError
from asgiway.backends import from_dsn
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    message_event,
)
from tests.runtime.wsapps import ANSWER_MARGIN_SECONDS, on_virtual_clock

CONNECTION = "Zx9=Yw8="
App = Any


def serve(app: App, dsn: str, api: ConnectionsApiDouble) -> Adapter:
    return Adapter(app, dsn=dsn, api_gateway_endpoint_url=api.endpoint_url, lifespan="off")


def accepting(on_message: Any) -> App:
    """A raw ASGI app that accepts, then hands each event's message to `on_message(send, message)`."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            await on_message(send, message)
            if message["type"] == "websocket.disconnect":
                return

    return app


async def ignore(send: Any, message: Any) -> None:
    return None


def connected(app: App, dsn: str, api: ConnectionsApiDouble) -> Adapter:
    handler = serve(app, dsn, api)
    assert handler(connect_event(CONNECTION), LambdaContextStub())["statusCode"] == 200
    return handler


# CONNECT: the app decides the handshake


def test_close_before_accept_is_403_and_stores_nothing(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 1008})

    assert serve(app, dsn, connections_api)(connect_event(CONNECTION)) == {
        "statusCode": 403,
        "body": "Forbidden",
    }
    assert from_dsn(dsn).load(CONNECTION) is None


def test_denial_response_carries_its_status_headers_and_body(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [(b"www-authenticate", b"Bearer")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"log in ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"first"})

    reply = serve(app, dsn, connections_api)(connect_event(CONNECTION))
    assert reply == {
        "statusCode": 401,
        "headers": {"www-authenticate": "Bearer"},
        "body": "log in first",
    }
    assert from_dsn(dsn).load(CONNECTION) is None


def test_starlette_denial_response(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.send_denial_response(PlainTextResponse("no room", status_code=409))

    app = Starlette(routes=[WebSocketRoute("/", endpoint)])
    reply = serve(app, dsn, connections_api)(connect_event(CONNECTION))
    assert reply["statusCode"] == 409
    assert reply["body"] == "no room"


@pytest.mark.parametrize("wait_for_input", [False, True])
def test_an_app_that_never_answers_the_handshake_is_403(
    dsn: str,
    connections_api: ConnectionsApiDouble,
    wait_for_input: bool,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        if wait_for_input:
            await receive()

    assert serve(app, dsn, connections_api)(connect_event(CONNECTION))["statusCode"] == 403
    assert "neither accepted nor closed" in caplog.text


def test_an_exception_at_connect_is_500_logged_not_raised(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        raise ValueError("boom")

    reply = serve(app, dsn, connections_api)(connect_event(CONNECTION))
    assert reply == {"statusCode": 500, "body": "Internal Server Error"}
    assert "ValueError: boom" in caplog.text
    assert from_dsn(dsn).load(CONNECTION) is None


def test_accepting_twice_is_an_app_error(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.accept"})

    assert serve(app, dsn, connections_api)(connect_event(CONNECTION))["statusCode"] == 500


def test_a_looping_app_is_cut_at_the_lambda_deadline(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:  # noqa: ASYNC110 - the point: an app that never yields control back
            await asyncio.sleep(0.01)

    handler, clock = on_virtual_clock(lambda: serve(app, dsn, connections_api))
    reply = handler(connect_event(CONNECTION), LambdaContextStub(timeout_seconds=2))
    assert reply["statusCode"] == 504
    # By the loop's own clock, which no load slows: cut off and answered with the margin to spare.
    assert clock.time() <= 2 - ANSWER_MARGIN_SECONDS
    assert from_dsn(dsn).load(CONNECTION) is None


# MESSAGE: one frame in, any number out


def test_an_app_that_sends_nothing_answers_200_at_once(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    handler, clock = on_virtual_clock(lambda: connected(accepting(ignore), dsn, connections_api))
    before = clock.time()
    assert handler(message_event(CONNECTION, "quiet"), LambdaContextStub()) == {"statusCode": 200}
    # Not a moment of the loop's clock passed: the app's wait for input ended the event, no deadline.
    assert clock.time() == before
    assert connections_api.calls == []


def test_several_sends_arrive_in_order(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    async def fan(send: Any, message: Any) -> None:
        for n in range(3):
            await send({"type": "websocket.send", "text": f"{message['text']}-{n}"})
        await send({"type": "websocket.send", "bytes": b"\x00\xff"})

    handler = connected(accepting(fan), dsn, connections_api)
    handler(message_event(CONNECTION, "m"), LambdaContextStub())
    assert connections_api.sent(CONNECTION) == [b"m-0", b"m-1", b"m-2", b"\x00\xff"]


def test_binary_and_missing_bodies(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    received: list[Any] = []

    async def keep(send: Any, message: Any) -> None:
        received.append(message)

    handler = connected(accepting(keep), dsn, connections_api)
    handler(message_event(CONNECTION, b"\x01\x02"), LambdaContextStub())
    handler(message_event(CONNECTION, None), LambdaContextStub())
    assert received == [
        {"type": "websocket.receive", "bytes": b"\x01\x02"},
        {"type": "websocket.receive", "text": ""},
    ]


def test_invalid_base64_body_is_400(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    handler = connected(accepting(ignore), dsn, connections_api)
    event = message_event(CONNECTION, "not base64!")
    event["isBase64Encoded"] = True
    assert handler(event, LambdaContextStub())["statusCode"] == 400
    assert from_dsn(dsn).load(CONNECTION) is not None


def test_an_exception_at_message_is_500_and_the_connection_stays(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(send: Any, message: Any) -> None:
        raise KeyError("missing")

    handler = connected(accepting(explode), dsn, connections_api)
    assert handler(message_event(CONNECTION, "x"), LambdaContextStub())["statusCode"] == 500
    assert "KeyError" in caplog.text
    assert from_dsn(dsn).load(CONNECTION) is not None


def test_an_app_close_closes_the_connection_and_marks_it_closed(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    async def close(send: Any, message: Any) -> None:
        await send({"type": "websocket.send", "text": "bye"})
        await send({"type": "websocket.close", "code": 1000})

    handler = connected(accepting(close), dsn, connections_api)
    assert handler(message_event(CONNECTION, "quit"), LambdaContextStub()) == {"statusCode": 200}
    assert [call.method for call in connections_api.calls] == ["POST", "DELETE"]
    # Marked closed until the DISCONNECT that follows the close removes it.
    record = from_dsn(dsn).load(CONNECTION)
    assert record is not None
    assert record.ended == "closed"
    assert from_dsn(dsn).connections() == []


@pytest.mark.parametrize("bare", [False, True])
def test_a_gone_peer_is_marked_gone_and_raises_nothing(
    dsn: str, connections_api: ConnectionsApiDouble, bare: bool
) -> None:
    async def chatty(send: Any, message: Any) -> None:
        await send({"type": "websocket.send", "text": "1"})
        await send({"type": "websocket.send", "text": "2"})

    handler = connected(accepting(chatty), dsn, connections_api)
    connections_api.gone.add(CONNECTION)
    connections_api.bare_gone = bare
    assert handler(message_event(CONNECTION, "x"), LambdaContextStub()) == {"statusCode": 200}
    assert len(connections_api.calls_of("POST")) == 1  # nothing more is posted to a gone peer
    record = from_dsn(dsn).load(CONNECTION)
    assert record is not None
    assert record.ended == "gone"  # kept for its DISCONNECT, out of every listing
    assert from_dsn(dsn).connections() == []


def test_other_post_failures_surface_in_the_app(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    errors: list[str] = []

    async def send_once(send: Any, message: Any) -> None:
        try:
            await send({"type": "websocket.send", "text": "x"})
        except Exception as exc:
            errors.append(str(exc))

    handler = connected(accepting(send_once), dsn, connections_api)
    connections_api.statuses[CONNECTION] = 403
    assert handler(message_event(CONNECTION, "x"), LambdaContextStub())["statusCode"] == 200
    assert len(errors) == 1
    assert "post_to_connection" in errors[0]
    assert "ForbiddenException" in errors[0]


def test_oversized_frames_are_refused_before_calling_aws(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    errors: list[str] = []

    async def huge(send: Any, message: Any) -> None:
        try:
            await send({"type": "websocket.send", "bytes": b"x" * (128 * 1024 + 1)})
        except Exception as exc:
            errors.append(str(exc))

    handler = connected(accepting(huge), dsn, connections_api)
    handler(message_event(CONNECTION, "x"), LambdaContextStub())
    assert connections_api.calls == []
    assert "131073 bytes exceeds" in errors[0]


def test_replayed_handshake_sends_are_not_delivered_again(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "welcome"})
        message = await receive()
        await send({"type": "websocket.send", "text": f"echo {message.get('text')}"})
        await receive()

    handler = connected(app, dsn, connections_api)
    handler(message_event(CONNECTION, "a"), LambdaContextStub())
    handler(message_event(CONNECTION, "b"), LambdaContextStub())
    # The welcome of the real handshake arrives once, right after it; replays never send it again.
    assert connections_api.sent(CONNECTION) == [b"welcome", b"echo a", b"echo b"]


def test_message_for_an_unknown_connection_is_a_clean_410_and_closes_it(
    dsn: str, connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    handler = serve(accepting(ignore), dsn, connections_api)
    with caplog.at_level(logging.WARNING, logger="asgiway"):
        reply = handler(message_event("never-connected=", "hello"), LambdaContextStub())
    assert reply == {"statusCode": 410, "body": "Gone"}
    assert [(c.method, c.connection_id) for c in connections_api.calls] == [("DELETE", "never-connected=")]
    assert "No record of connection never-connected=" in caplog.text
    assert "Traceback" not in caplog.text


def test_disconnect_for_an_unknown_connection_is_200(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    handler = serve(accepting(ignore), dsn, connections_api)
    assert handler(disconnect_event("unknown="), LambdaContextStub()) == {"statusCode": 200}
    assert connections_api.calls == []


# DISCONNECT: the record goes whatever the app does


def test_disconnect_removes_the_record_even_when_the_app_raises(
    dsn: str, connections_api: ConnectionsApiDouble
) -> None:
    async def explode(send: Any, message: Any) -> None:
        if message["type"] == "websocket.disconnect":
            raise RuntimeError("cleanup failed")

    handler = connected(accepting(explode), dsn, connections_api)
    assert handler(disconnect_event(CONNECTION), LambdaContextStub())["statusCode"] == 500
    assert from_dsn(dsn).load(CONNECTION) is None


def test_sends_after_the_client_left_are_dropped(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    async def reply(send: Any, message: Any) -> None:
        await send({"type": "websocket.send", "text": "too late"})

    handler = connected(accepting(reply), dsn, connections_api)
    assert handler(disconnect_event(CONNECTION), LambdaContextStub()) == {"statusCode": 200}
    assert connections_api.calls == []


# Configuration and endpoints


def test_websocket_events_without_a_store_are_a_configuration_error() -> None:
    handler = Adapter(accepting(ignore), lifespan="off")
    with pytest.raises(ConfigurationError, match="pass dsn="):
        handler(connect_event(CONNECTION), LambdaContextStub())


def test_the_boto3_endpoint_variable_redirects_connections(
    dsn: str, connections_api: ConnectionsApiDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def say(send: Any, message: Any) -> None:
        await send({"type": "websocket.send", "text": "via env"})

    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", connections_api.endpoint_url)
    handler = Adapter(accepting(say), dsn=dsn, lifespan="off")
    handler(connect_event(CONNECTION), LambdaContextStub())
    handler(message_event(CONNECTION, "x"), LambdaContextStub())
    assert connections_api.sent(CONNECTION) == [b"via env"]


def test_malformed_websocket_events_are_400(dsn: str, connections_api: ConnectionsApiDouble) -> None:
    handler = serve(accepting(ignore), dsn, connections_api)
    no_id = message_event(CONNECTION, "x")
    del no_id["requestContext"]["connectionId"]
    bad_headers = connect_event(CONNECTION)
    bad_headers["headers"] = ["not", "a", "map"]
    assert handler(no_id, LambdaContextStub())["statusCode"] == 400
    assert handler(bad_headers, LambdaContextStub())["statusCode"] == 400
