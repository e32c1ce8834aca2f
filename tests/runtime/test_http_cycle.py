"""HTTPCycle: the ASGI http state machine that runs an app on one Lambda request."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from asgiway.protocols.http import HTTPCycle, HTTPCycleState
from asgiway.types import ASGIApp, HTTPResponse, Message, Receive, Scope, Send

INTERNAL_ERROR = HTTPResponse(
    500, [(b"content-type", b"text/plain; charset=utf-8")], b"Internal Server Error"
)


def scope(method: str = "GET", path: str = "/") -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"example.com")],
        "client": ("203.0.113.9", 0),
        "server": ("example.com", 443),
    }


def run(app: ASGIApp, body: bytes = b"", method: str = "GET") -> HTTPResponse:
    return asyncio.run(HTTPCycle(scope(method), body).run(app))


def start(status: int = 200, headers: list[Any] | None = None) -> Message:
    return {"type": "http.response.start", "status": status, "headers": headers or []}


def chunk(body: bytes, more_body: bool = False) -> Message:
    return {"type": "http.response.body", "body": body, "more_body": more_body}


# --- receive -----------------------------------------------------------------------------------


def test_receive_gives_the_body_once_then_disconnect_after_the_response() -> None:
    received: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        received.append(await receive())
        await send(start())
        await send(chunk(b"done"))
        received.append(await receive())
        received.append(await receive())

    response = run(app, body=b"payload")

    assert received == [
        {"type": "http.request", "body": b"payload", "more_body": False},
        {"type": "http.disconnect"},
        {"type": "http.disconnect"},
    ]
    assert response == HTTPResponse(200, [], b"done")


def test_receive_waits_until_the_response_is_complete() -> None:
    order: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

        async def listen() -> None:
            message = await receive()
            order.append(message["type"])

        listener = asyncio.create_task(listen())
        for _ in range(10):  # the listener gets every chance to run: nothing may answer it yet
            await asyncio.sleep(0)
        assert not listener.done()
        order.append("start")
        await send(start())
        await asyncio.sleep(0)
        order.append("body")
        await send(chunk(b"x"))
        await listener

    run(app)

    assert order == ["start", "body", "http.disconnect"]


def test_states_follow_the_response_messages() -> None:
    cycle = HTTPCycle(scope(), b"")
    seen: list[HTTPCycleState] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(cycle.state)
        await send(start())
        seen.append(cycle.state)
        await send(chunk(b"a", more_body=True))
        seen.append(cycle.state)
        await send(chunk(b"b"))
        seen.append(cycle.state)

    asyncio.run(cycle.run(app))

    assert seen == [
        HTTPCycleState.REQUEST,
        HTTPCycleState.RESPONSE,
        HTTPCycleState.RESPONSE,
        HTTPCycleState.COMPLETE,
    ]


# --- responses ----------------------------------------------------------------------------------


def test_chunked_response_is_joined() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(206, [(b"content-type", b"text/plain")]))
        await send(chunk(b"one,", more_body=True))
        await send({"type": "http.response.body", "more_body": True})
        await send(chunk(b"two,", more_body=True))
        await send(chunk(b"three"))

    assert run(app) == HTTPResponse(206, [(b"content-type", b"text/plain")], b"one,two,three")


def test_head_keeps_status_and_headers_and_drops_the_body() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, [(b"content-length", b"5")]))
        await send(chunk(b"hello"))

    assert run(app, method="HEAD") == HTTPResponse(200, [(b"content-length", b"5")], b"")


def test_headers_given_as_lists_become_byte_pairs() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200, [[b"x-a", b"1"], [bytearray(b"x-b"), bytearray(b"2")]]))
        await send(chunk(b""))

    assert run(app).headers == [(b"x-a", b"1"), (b"x-b", b"2")]


# --- failures -----------------------------------------------------------------------------------


def test_exception_before_the_response_is_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise ValueError("boom")

    with caplog.at_level(logging.ERROR, logger="asgiway"):
        response = run(app)

    assert response == INTERNAL_ERROR
    [record] = caplog.records
    assert record.name == "asgiway"
    assert record.getMessage() == "The app raised while answering GET /"
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


def test_exception_after_start_is_a_logged_500_not_a_truncated_success(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Lambda returns the response whole: a 201 carrying half a body would pass for a success."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(201, [(b"content-type", b"text/plain")]))
        await send(chunk(b"partial", more_body=True))
        raise ValueError("boom")

    with caplog.at_level(logging.ERROR, logger="asgiway"):
        response = run(app)

    assert response == INTERNAL_ERROR
    assert caplog.records[0].exc_info is not None
    assert caplog.messages == ["The app raised while answering GET /"]


def test_a_streaming_response_whose_generator_fails_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    """Starlette's StreamingResponse as its docs write it, with a generator failing after a row."""

    async def rows() -> Any:
        yield "id,name\n"
        raise ConnectionError("the database went away")

    async def export(request: Request) -> StreamingResponse:
        return StreamingResponse(rows(), media_type="text/csv")

    with caplog.at_level(logging.ERROR, logger="asgiway"):
        response = run(Starlette(routes=[Route("/", export)]))

    assert response == INTERNAL_ERROR
    assert any(isinstance(r.exc_info[1], ConnectionError) for r in caplog.records if r.exc_info)


def test_a_second_response_start_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200))
        await send(start(404))

    with caplog.at_level(logging.ERROR, logger="asgiway"):
        assert run(app) == INTERNAL_ERROR
    assert "expected 'http.response.body'" in str(caplog.records[0].exc_info[1])  # type: ignore[index]


def test_exception_after_the_response_keeps_it(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200))
        await send(chunk(b"whole"))
        raise ValueError("cleanup failed")

    with caplog.at_level(logging.ERROR, logger="asgiway"):
        response = run(app)

    assert response == HTTPResponse(200, [], b"whole")
    assert "cleanup failed" in caplog.text


def test_app_returning_without_a_response_is_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    with caplog.at_level(logging.ERROR, logger="asgiway"):
        response = run(app)

    assert response == INTERNAL_ERROR
    assert caplog.messages == ["The app returned without a response to GET /"]


def test_app_returning_mid_response_is_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(start(200))
        await send(chunk(b"half", more_body=True))

    with caplog.at_level(logging.ERROR, logger="asgiway"):
        response = run(app)

    assert response == INTERNAL_ERROR
    assert caplog.messages == ["The app returned without finishing its response to GET /"]


@pytest.mark.parametrize(
    ("messages", "error"),
    [
        ([chunk(b"x")], "Unexpected ASGI message 'http.response.body': expected 'http.response.start'"),
        ([start(), start()], "Unexpected ASGI message 'http.response.start': expected 'http.response.body'"),
        ([start(), chunk(b"x"), chunk(b"y")], "'http.response.body': the response is already complete"),
        ([{"type": "websocket.accept"}], "Unexpected ASGI message 'websocket.accept'"),
    ],
)
def test_protocol_errors_raise_inside_the_app(messages: list[Message], error: str) -> None:
    raised: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            for message in messages:
                await send(message)
        except RuntimeError as exc:
            raised.append(str(exc))

    run(app)

    assert len(raised) == 1
    assert error in raised[0]


def test_protocol_error_left_unhandled_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(chunk(b"no start"))

    with caplog.at_level(logging.ERROR, logger="asgiway"):
        assert run(app) == INTERNAL_ERROR
    assert isinstance(caplog.records[0].exc_info[1], RuntimeError)  # type: ignore[index]


def test_cancellation_is_not_swallowed() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(10)

    async def bounded() -> HTTPResponse:
        return await asyncio.wait_for(HTTPCycle(scope(), b"").run(app), 0.01)

    with pytest.raises(TimeoutError):
        asyncio.run(bounded())


# --- real Starlette apps ------------------------------------------------------------------------


def test_starlette_reads_the_body_and_runs_background_tasks() -> None:
    done: list[str] = []

    async def upload(request: Request) -> Response:
        data = await request.json()
        return JSONResponse({"got": data}, background=BackgroundTask(done.append, "background"))

    app = Starlette(routes=[Route("/", upload, methods=["POST"])])

    response = run(app, body=b'{"n": 1}', method="POST")

    assert response.status == 200
    assert response.body == b'{"got":{"n":1}}'
    assert (b"content-type", b"application/json") in response.headers
    assert done == ["background"]


def test_starlette_streaming_listens_for_disconnect_without_hanging() -> None:
    async def numbers(request: Request) -> Response:
        async def lines() -> Any:
            for number in range(3):
                yield f"{number}\n"

        return StreamingResponse(lines(), media_type="text/plain")

    app = Starlette(routes=[Route("/", numbers)])

    async def bounded() -> HTTPResponse:
        return await asyncio.wait_for(HTTPCycle(scope(), b"").run(app), 2)

    response = asyncio.run(bounded())

    assert response.body == b"0\n1\n2\n"


def test_starlette_route_error_is_a_500(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(request: Request) -> Response:
        raise KeyError("missing")

    app = Starlette(routes=[Route("/", broken)])

    with caplog.at_level(logging.ERROR, logger="asgiway"):
        response = run(app)

    assert response.status == 500
    assert response.body == b"Internal Server Error"
    assert any(record.exc_info for record in caplog.records if record.name == "asgiway")
