"""`asgiway dev` run as a user runs it: the real command in its own process, on a free port."""

from __future__ import annotations

import configparser
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[2]
_BANNER = re.compile(r"HTTP API\s+(?P<origin>http://\S+)/")
_CREDENTIALS = re.compile(r"credentials\s+(?P<path>/\S+) \(profile (?P<profile>[^:]+):")
#: The `asgiway` command as this test run's interpreter runs it.
ASGIWAY = [sys.executable, "-m", "asgiway.cli"]


def asgiway(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run `asgiway ARGUMENTS...` to its end (a minute at most) from the repository; its result."""
    return subprocess.run(
        [*ASGIWAY, *arguments], cwd=REPOSITORY, capture_output=True, text=True, timeout=60, check=False
    )


class DevServer:
    """Start `asgiway dev TARGET ARGS...` on port 0, learn its address from the banner, stop it on exit.

    Everything the server prints is kept in `lines`, so a test can read the per-event log.
    """

    def __init__(
        self, target: str, *arguments: str, environment: dict[str, str | None] | None = None
    ) -> None:
        """`environment` adds variables to the test's own; None removes one."""
        command = [*ASGIWAY, "dev", target, "--port", "0", *arguments]
        changed: dict[str, str | None] = {"NO_COLOR": "1", **(environment or {})}
        env = {**os.environ, **{name: value for name, value in changed.items() if value is not None}}
        for name in [name for name, value in changed.items() if value is None]:
            env.pop(name, None)
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.origin = ""
        #: The run's key pair, which @connections and the Invoke API require: (key id, secret).
        self.credentials = ("", "")
        self._process = subprocess.Popen(
            command, cwd=REPOSITORY, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)

    @property
    def websocket_url(self) -> str:
        return f"{self.origin.replace('http', 'ws', 1)}/dev"

    @property
    def connections_url(self) -> str:
        return f"{self.origin}/dev"

    @property
    def pid(self) -> int:
        return self._process.pid

    def client(self, service: str, **options: Any) -> Any:
        """A boto3 client for `service` ("apigatewaymanagementapi" or "lambda") at this server,
        signing with the run's credentials, as the function's instances do."""
        import boto3

        endpoint = self.connections_url if service == "apigatewaymanagementapi" else self.origin
        key_id, secret = self.credentials
        # Any: the stubs type `client` per service name, and the Lambda client's stubs are not installed.
        session: Any = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret)
        return session.client(service, endpoint_url=endpoint, region_name="us-east-1", **options)

    def __enter__(self) -> DevServer:
        self._reader.start()
        if not self._ready.wait(60) or not self.origin or not self.credentials[0]:
            self.stop()
            raise RuntimeError("asgiway dev did not start:\n" + "\n".join(self.lines))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self, how: signal.Signals = signal.SIGINT) -> int:
        """Stop the server as Ctrl+C does (or with `how`); its exit code."""
        if self._process.poll() is None:
            self._process.send_signal(how)
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._reader.join(5)
        return self._process.wait()

    def send_signal(self, how: signal.Signals) -> None:
        """Signal the server without waiting for it; `wait` for its end."""
        self._process.send_signal(how)

    def wait(self, timeout: float) -> int:
        """The server's exit code, once it has ended (subprocess.TimeoutExpired after `timeout`)."""
        return self._process.wait(timeout)

    def wait_for_line(self, pattern: str, timeout: float = 10.0) -> str:
        """The first log line matching `pattern`, waiting for it to be printed."""
        deadline = time.monotonic() + timeout
        compiled = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if compiled.search(line):
                    return line
            time.sleep(0.02)
        raise AssertionError(f"no line matches {pattern!r}:\n" + "\n".join(self.lines))

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line.rstrip("\n"))
            credentials = _CREDENTIALS.search(line)
            if credentials:
                self.credentials = _read_credentials(Path(credentials["path"]), credentials["profile"])
            found = _BANNER.search(line)
            if found:
                self.origin = found["origin"]
            if self.origin and self.credentials[0]:
                self._ready.set()
        self._ready.set()


def _read_credentials(path: Path, profile: str) -> tuple[str, str]:
    parser = configparser.ConfigParser()
    parser.read(path)
    return parser[profile]["aws_access_key_id"], parser[profile]["aws_secret_access_key"]
