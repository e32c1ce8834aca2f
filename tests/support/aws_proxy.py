"""A loopback HTTP proxy in front of moto, through which a test answers chosen requests as AWS would.

moto answers like AWS on the happy path, but it never fails part of a DeleteObjects, never lets two
callers race to create a table, and makes every table ACTIVE at once. A test that needs one of
those gives the backend this proxy as its endpoint, with a `Handler` that answers the requests it
cares about in the shape AWS documents for that situation (or passes them on and rewrites what
moto said); every other request reaches moto unchanged, over real HTTP both ways.
"""

from __future__ import annotations

import http.client
import json
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

#: Headers that belong to one hop, not to the request or answer passed on.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "expect", "content-length", "host"})


@dataclass(frozen=True)
class Request:
    method: str
    #: The path with its query string, e.g. "/bucket?delete".
    path: str
    #: Header names lower-cased.
    headers: dict[str, str]
    body: bytes

    @property
    def operation(self) -> str:
        """A JSON protocol's operation (DynamoDB's `X-Amz-Target`, e.g. "CreateTable"), else ""."""
        return self.headers.get("x-amz-target", "").rpartition(".")[2]

    def document(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @classmethod
    def dynamodb(cls, status: int, document: Any) -> Answer:
        """A DynamoDB answer, with the body's CRC32 that botocore checks for this service."""
        body = json.dumps(document).encode()
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amz-crc32", str(zlib.crc32(body)))]
        return cls(status, headers, body)

    @classmethod
    def dynamodb_error(cls, code: str, message: str) -> Answer:
        return cls.dynamodb(400, {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message})

    def document(self) -> Any:
        return json.loads(self.body)


#: Passes a request on to moto and returns moto's answer.
Forward = Callable[[Request], Answer]
#: Answers one request, calling `Forward` for moto's answer when it needs one.
Handler = Callable[[Request, Forward], Answer]


class AwsProxy:
    """Serves on a free loopback port until the `with` block ends; `requests` lists what came in."""

    def __init__(self, upstream: str, handle: Handler) -> None:
        self._upstream = urlsplit(upstream)
        self.handle = handle
        self.requests: list[Request] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.endpoint_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def operations(self) -> list[str]:
        """The JSON-protocol operations requested so far, in order."""
        return [request.operation for request in self.requests if request.operation]

    def __enter__(self) -> AwsProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def forward(self, request: Request) -> Answer:
        host, port = self._upstream.hostname or "127.0.0.1", self._upstream.port or 80
        connection = http.client.HTTPConnection(host, port, timeout=30)
        try:
            headers = {name: value for name, value in request.headers.items() if name not in _HOP_BY_HOP}
            connection.request(
                request.method, request.path, request.body, {**headers, "host": f"{host}:{port}"}
            )
            response = connection.getresponse()
            body = response.read()
            kept = [(name, value) for name, value in response.getheaders() if name.lower() not in _HOP_BY_HOP]
            if request.method == "HEAD":  # no body, but the length of the one a GET would have
                kept += [("Content-Length", response.getheader("Content-Length") or "0")]
            return Answer(response.status, kept, body)
        finally:
            connection.close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, and 100-continue for botocore's PUTs

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {name.lower(): value for name, value in self.headers.items()}
                request = Request(self.command, self.path, headers, body)
                proxy.requests.append(request)
                answer = proxy.handle(request, proxy.forward)
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.body)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the tests read `requests`, not a log

        return Handler
