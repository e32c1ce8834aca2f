"""The real servers backend tests talk to, and the rule for when one is missing.

PostgreSQL and Redis run on 127.0.0.1 (`.ci/run` starts them); DynamoDB and S3 are moto in
server mode on a loopback port, started here. A test that needs a missing server is skipped
with the reason on a developer's machine, and fails under CI=true: CI must never skip one.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

POSTGRES_HOST, POSTGRES_PORT = "127.0.0.1", 5432
POSTGRES_USER, POSTGRES_DATABASE = "postgres", "test"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(available: bool, what: str) -> None:
    """Skip (locally) or fail (in CI) a test whose server is not there."""
    if available:
        return
    message = f"{what} is not reachable; start it (see .ci/run) to run this test"
    if in_ci():
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def postgres_dsn(schema: str | None = None) -> str:
    """A dsn on the test database; with `schema`, every table lands in that schema."""
    dsn = f"postgresql://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{POSTGRES_DATABASE}"
    return f"{dsn}?options=-csearch_path%3D{schema}" if schema else dsn


class MotoServer:
    """moto in server mode on a free loopback port: real HTTP, so boto3 behaves as against AWS.

    It runs in a process of its own (tests/support/moto_process.py): in the test process, moto's
    request handling would share the GIL with the tests' own threads and boto3 clients, and
    it dominated the suite's time. The process is told to stop and start listening through its
    stdin, keeping its data, and it exits when that pipe closes, so it never outlives the tests.
    """

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.endpoint_url = f"http://127.0.0.1:{port}"
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.moto_process", str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        self._lock = threading.Lock()

    def start(self) -> None:
        self._command("start")

    def stop(self) -> None:
        self._command("stop")

    def close(self) -> None:
        """End the process (closing its stdin is how it is told)."""
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=30)

    def _command(self, command: str) -> None:
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(f"{command}\n")
        self._process.stdin.flush()
        answer = self._process.stdout.readline().strip()
        if answer != "done":
            raise RuntimeError(f"moto's process did not {command} (it answered {answer!r})")

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """The server down for the block, then up again on the same port (moto keeps its data)."""
        with self._lock:
            self.stop()
            try:
                yield
            finally:
                self.start()
