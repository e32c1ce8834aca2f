"""A loopback stand-in for API Gateway's @connections API, for tests and benchmarks.

It is a real HTTP server on 127.0.0.1, so boto3 signs, encodes and retries exactly as it would
against AWS. It records every call and answers as API Gateway does: POST 200, GET 200 with
ConnectedAt/Identity/LastActiveAt, DELETE 204, and 410 with `x-amzn-ErrorType: GoneException`
for a connection that is gone (or a bare 410, to check that one too). Unlike moto, it can say
"gone", and a deleted connection stays gone.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import unquote

from asgiway.management_api import MAX_MESSAGE_BYTES

#: The error types API Gateway names for the statuses a test may force.
_ERROR_TYPES = {403: "ForbiddenException", 413: "PayloadTooLargeException", 429: "LimitExceededException"}


@dataclass(frozen=True)
class Call:
    """One request the double received."""

    method: str
    connection_id: str
    data: bytes
    path: str
    headers: dict[str, str]


@dataclass
class ConnectionsApiDouble:
    """Serve @connections on 127.0.0.1 until `stop()`; use as a context manager.

    `gone` holds ids answered with 410; `bare_gone` makes those 410s carry no error type, as some
    proxies do; `statuses` forces a status for an id (429, 500, ...); `failures` answers an id
    with a status that many times before serving it (a count and a status); `delay` adds seconds
    to every answer. Paths with or without a stage prefix are served alike.
    """

    gone: set[str] = field(default_factory=set)
    bare_gone: bool = False
    statuses: dict[str, int] = field(default_factory=dict)
    failures: dict[str, tuple[int, int]] = field(default_factory=dict)
    delay: float = 0.0
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll keeps stop() quick: shutdown waits for the loop's next poll.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._started = time.time()

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/test"

    def start(self) -> ConnectionsApiDouble:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ConnectionsApiDouble:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def sent(self, connection_id: str) -> list[bytes]:
        """The frames POSTed to one connection, in order."""
        with self._lock:
            return [c.data for c in self.calls if c.method == "POST" and c.connection_id == connection_id]

    def calls_of(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def _answer(self, call: Call) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.calls.append(call)
            status = self.statuses.get(call.connection_id)
            count, failure = self.failures.get(call.connection_id, (0, 0))
            if status is None and count > 0:
                self.failures[call.connection_id] = (count - 1, failure)
                status = failure
            if status is None and call.connection_id in self.gone:
                status = 410
            if status is None and call.method == "DELETE":
                self.gone.add(call.connection_id)
        if status == 410:
            headers = {} if self.bare_gone else {"x-amzn-ErrorType": "GoneException"}
            return 410, headers, b'{"message":null}'
        if status is not None:
            return (
                status,
                {"x-amzn-ErrorType": _ERROR_TYPES.get(status, "InternalServerError")},
                b'{"message":"forced"}',
            )
        if call.method == "POST" and len(call.data) > MAX_MESSAGE_BYTES:
            return 413, {"x-amzn-ErrorType": "PayloadTooLargeException"}, b'{"message":"too large"}'
        if call.method == "GET":
            now = datetime.now(UTC).isoformat()
            since = datetime.fromtimestamp(self._started, UTC).isoformat()
            # The wire names are camelCase; botocore maps them to ConnectedAt, Identity, LastActiveAt.
            body = {
                "connectedAt": since,
                "identity": {"sourceIp": "127.0.0.1", "userAgent": "double"},
                "lastActiveAt": now,
            }
            return 200, {"content-type": "application/json"}, json.dumps(body).encode()
        return (204 if call.method == "DELETE" else 200), {}, b""


def _handler_for(double: ConnectionsApiDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            marker = "/@connections/"
            if marker not in self.path:
                self.send_error(404)
                return
            length = int(self.headers.get("content-length") or 0)
            data = self.rfile.read(length) if length else b""
            connection_id = unquote(self.path.split(marker, 1)[1].split("?", 1)[0])
            call = Call(self.command, connection_id, data, self.path, dict(self.headers.items()))
            if double.delay:
                time.sleep(double.delay)
            status, headers, body = double._answer(call)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if body and status != 204:
                self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test reads `calls` instead."""

    return Handler
