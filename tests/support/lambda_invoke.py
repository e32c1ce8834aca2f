"""Lambda's Invoke API on loopback, for the asynchronous self-invocation that carries CONNECT frames."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class LambdaInvokeStub:
    """Records each invocation as (path, invocation type, payload) and answers 202, as Lambda does
    for InvocationType "Event"; the test then runs the payload through the handler, as Lambda would."""

    def __init__(self) -> None:
        self.invocations: list[tuple[str, str, dict[str, Any]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                stub.invocations.append((self.path, self.headers["X-Amz-Invocation-Type"], json.loads(body)))
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.endpoint_url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> LambdaInvokeStub:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
