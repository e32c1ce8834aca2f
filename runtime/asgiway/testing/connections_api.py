"""A loopback stand-in for API Gateway's @connections API, for tests and benchmarks.

It is a real HTTP server on 127.0.0.1, so boto3 signs, encodes and retries exactly as it would
against AWS. It records every call and answers as API Gateway does: POST 200, GET 200 with
ConnectedAt/Identity/LastActiveAt, DELETE 204, and 410 with `x-amzn-ErrorType: GoneException`
for a connection that is gone (or a bare 410, to check that one too). Unlike moto, it can say
"gone", and a deleted connection stays gone.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from asgiway.local import connections_api as wire
from asgiway.local.response import GatewayResponse


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
    to every answer, `delays` to one id's (a client behind a stalled connection). Paths with or
    without a stage prefix are served alike.
    """

    gone: set[str] = field(default_factory=set)
    bare_gone: bool = False
    statuses: dict[str, int] = field(default_factory=dict)
    failures: dict[str, tuple[int, int]] = field(default_factory=dict)
    delay: float = 0.0
    delays: dict[str, float] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
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

    def _answer(self, call: Call) -> GatewayResponse:
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
            return wire.gone(bare=self.bare_gone)
        if status is not None:
            return wire.error(status, "forced")
        refused = wire.too_large(len(call.data)) if call.method == "POST" else None
        if refused is not None:
            return refused
        if call.method == "GET":
            return wire.description(int(self._started * 1000), int(time.time() * 1000), "127.0.0.1", "double")
        return wire.CLOSED if call.method == "DELETE" else wire.OK


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: a broadcast opening 32 connections at once had
    # SYNs dropped and retried a second later, as if the endpoint stalled.
    request_queue_size = 128
    daemon_threads = True


def _handler_for(double: ConnectionsApiDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            found = wire.connection_path(self.path)
            if found is None:
                self.send_error(404)
                return
            length = int(self.headers.get("content-length") or 0)
            data = self.rfile.read(length) if length else b""
            connection_id = found[1]
            call = Call(self.command, connection_id, data, self.path, dict(self.headers.items()))
            delay = double.delays.get(connection_id, double.delay)
            if delay:
                time.sleep(delay)
            answer = double._answer(call)
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name.decode("latin-1"), value.decode("latin-1"))
            self.send_header("content-length", str(len(answer.body)))
            self.end_headers()
            if answer.body and answer.status != 204:
                self.wfile.write(answer.body)

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the test reads `calls` instead."""

    return Handler
