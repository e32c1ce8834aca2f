"""The ASGI `http` protocol for one Lambda invocation: one request in, one whole response out.

Lambda proxy integrations answer with a single JSON document, so a streamed (`more_body`)
response is gathered whole before it is returned.
"""

from __future__ import annotations

import asyncio
import enum
import logging

from asgiway.types import ASGIApp, Headers, HTTPResponse, Message, Scope

logger = logging.getLogger("asgiway")


class HTTPCycleState(enum.Enum):
    """Where the app is in answering the request.

    REQUEST: nothing sent yet; the app may send `http.response.start`.
    RESPONSE: the response has started; the app sends `http.response.body` until `more_body`
    is false.
    COMPLETE: the response is whole; `receive()` answers `http.disconnect` and nothing more
    may be sent.
    """

    REQUEST = enum.auto()
    RESPONSE = enum.auto()
    COMPLETE = enum.auto()


#: The message each state accepts from the app.
_EXPECTED = {
    HTTPCycleState.REQUEST: "http.response.start",
    HTTPCycleState.RESPONSE: "http.response.body",
}


def _internal_error() -> HTTPResponse:
    return HTTPResponse(500, [(b"content-type", b"text/plain; charset=utf-8")], b"Internal Server Error")


class HTTPCycle:
    """Runs an ASGI app on one request and collects its response.

    The app receives the whole body in a single `http.request`; any later `receive()` waits
    until the response is complete and then answers `http.disconnect` (Starlette listens for
    it while streaming). A HEAD response keeps its headers and loses its body.
    """

    def __init__(self, scope: Scope, body: bytes) -> None:
        self.scope = scope
        self.state = HTTPCycleState.REQUEST
        self._request_body: bytes | None = body
        # Made only for an app that receives again after the body (Starlette while streaming):
        # most never do, and an Event per request is a measurable part of the adapter's time.
        self._complete: asyncio.Event | None = None
        self._status = 500
        self._headers: Headers = []
        self._chunks: list[bytes] = []

    async def run(self, app: ASGIApp) -> HTTPResponse:
        """Run `app` to its end and return its response.

        Lambda returns the response whole, so only a complete one is ever sent: an app that fails
        or returns before finishing its response (a streaming generator that raises after its
        first chunk, a second `http.response.start`) answers 500, never a truncated success.
        A failure after the response is complete (a background task's) is logged and the
        response stands, as it would have reached the client from a server.
        """
        try:
            await app(self.scope, self.receive, self.send)
        except Exception:
            logger.exception(
                "The app raised %s %s %s",
                "after answering" if self.state is HTTPCycleState.COMPLETE else "while answering",
                self.scope["method"],
                self.scope["path"],
            )
        else:
            if self.state is not HTTPCycleState.COMPLETE:
                logger.error(
                    "The app returned without %s to %s %s",
                    "a response" if self.state is HTTPCycleState.REQUEST else "finishing its response",
                    self.scope["method"],
                    self.scope["path"],
                )
        if self.state is not HTTPCycleState.COMPLETE:
            return _internal_error()
        return HTTPResponse(self._status, self._headers, b"".join(self._chunks))

    async def receive(self) -> Message:
        """The request body once, then `http.disconnect` when the response is complete."""
        if self._request_body is not None:
            body, self._request_body = self._request_body, None
            return {"type": "http.request", "body": body, "more_body": False}
        if self.state is not HTTPCycleState.COMPLETE:
            if self._complete is None:
                self._complete = asyncio.Event()
            await self._complete.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        """Take the app's next response message; a message out of order raises RuntimeError."""
        kind = message.get("type")
        expected = _EXPECTED.get(self.state)
        if kind != expected:
            raise RuntimeError(
                f"Unexpected ASGI message {kind!r}: "
                + (f"expected {expected!r}" if expected else "the response is already complete")
            )
        if self.state is HTTPCycleState.REQUEST:
            self._status = int(message["status"])
            self._headers = [(bytes(name), bytes(value)) for name, value in message.get("headers", [])]
            self.state = HTTPCycleState.RESPONSE
            return
        if self.scope["method"] != "HEAD":
            self._chunks.append(bytes(message.get("body", b"")))
        if not message.get("more_body", False):
            self.state = HTTPCycleState.COMPLETE
            if self._complete is not None:
                self._complete.set()
