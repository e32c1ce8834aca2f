"""`asgiway dev` run as a user runs it: the real command in its own process, on a free port."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType

REPOSITORY = Path(__file__).resolve().parents[2]
_BANNER = re.compile(r"HTTP API\s+(?P<origin>http://\S+)/")
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

    def __enter__(self) -> DevServer:
        self._reader.start()
        if not self._ready.wait(60) or not self.origin:
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
            found = _BANNER.search(line)
            if found:
                self.origin = found["origin"]
                self._ready.set()
        self._ready.set()
