"""Store servers a test owns: it may stop and restart them without disturbing any other test.

The shared PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) serve every other test, so a
fault test must never stop them. These are private instances on free loopback ports, with their
data in a temporary directory that survives a restart:

- `PrivateRedis`: `redis-server` as a child process, with an append-only file fsynced at every
  write, so what was written before a stop is there after the restart.
- `PrivatePostgreSQL`: a cluster made by `initdb` and run by `pg_ctl`, trust authentication,
  listening only on 127.0.0.1 and on a Unix socket in its own directory. initdb refuses to run as
  root, so as root every command runs as the `postgres` user (`runuser`), in a directory it owns.

Every wait is bounded; a server that does not come up within its bound raises with its log.
`available()` says whether the binaries exist, for `tests.support.services.require`.
"""

from __future__ import annotations

import glob
import os
import pwd
import random
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

#: How long a server may take to start or stop before the test fails (a busy 2-core box).
START_SECONDS = 30.0
STOP_SECONDS = 30.0


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A free loopback port below the ephemeral range, where no outgoing connection takes its
    local port: a server that is down keeps its port free for its restart."""
    low, _ = _ephemeral_range()
    candidates = list(range(20000, low)) if low > 20000 else []
    random.shuffle(candidates)
    for port in candidates[:100]:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:  # no such range here: the kernel's pick
        probe.bind(("127.0.0.1", 0))
        chosen: int = probe.getsockname()[1]
        return chosen


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class PrivateRedis:
    """A `redis-server` on 127.0.0.1:`port`, its data kept in `directory` across restarts."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.log = directory / "redis.log"
        self._process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def dsn(self, key_prefix: str) -> str:
        return f"redis://127.0.0.1:{self.port}/0?key_prefix={key_prefix}"

    def start(self) -> None:
        if self.running:
            return
        command = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            # Every write on disk before it is acknowledged: a stop loses nothing.
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--dir", str(self.directory),
            "--logfile", str(self.log),
        ]  # fmt: skip
        self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        self._wait_until_serving()

    def stop(self) -> None:
        """SIGTERM, which Redis answers by closing every client and exiting; SIGKILL if it hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_SECONDS)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _wait_until_serving(self) -> None:
        """Until PING answers PONG: a server still loading its append-only file answers LOADING."""
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"redis-server on port {self.port} exited:\n{_tail(self.log)}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as client:
                    client.sendall(b"PING\r\n")
                    if client.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server on port {self.port} did not start:\n{_tail(self.log)}")


def _postgresql_bin() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin holding initdb and pg_ctl."""
    found = [
        Path(directory)
        for directory in glob.glob("/usr/lib/postgresql/*/bin")
        if os.access(Path(directory) / "initdb", os.X_OK) and os.access(Path(directory) / "pg_ctl", os.X_OK)
    ]
    found.sort(key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)
    return found[-1] if found else None


class PrivatePostgreSQL:
    """A PostgreSQL cluster in a temporary directory, on 127.0.0.1:`port`; `close()` removes it."""

    USER = "postgres"

    def __init__(self) -> None:
        binaries = _postgresql_bin()
        if binaries is None:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
        self.bin = binaries
        self.as_root = os.geteuid() == 0
        # Not under pytest's tmp_path: its directories are private to root, and the server runs
        # as `postgres`, which must reach its data directory and socket directory.
        self.directory = Path(tempfile.mkdtemp(prefix="asgiway-pg-"))
        if self.as_root:
            account = pwd.getpwnam(self.USER)
            os.chown(self.directory, account.pw_uid, account.pw_gid)
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.port = free_port()
        self._running = False
        self._run(
            "initdb",
            "--pgdata", str(self.data),
            "--auth", "trust",
            "--username", self.USER,
            "--encoding", "UTF8",
            "--locale", "C",
            # A throwaway cluster: no need to wait for the disk.
            "--no-sync",
        )  # fmt: skip

    @staticmethod
    def available() -> bool:
        if _postgresql_bin() is None:
            return False
        if os.geteuid() != 0:
            return True
        try:
            pwd.getpwnam(PrivatePostgreSQL.USER)
        except KeyError:
            return False
        return shutil.which("runuser") is not None

    @property
    def running(self) -> bool:
        return self._running

    def dsn(self, schema: str | None = None) -> str:
        dsn = f"postgresql://{self.USER}@127.0.0.1:{self.port}/postgres"
        return f"{dsn}?options=-csearch_path%3D{schema}" if schema else dsn

    def start(self) -> None:
        if self._running:
            return
        settings = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {shlex.quote(str(self.directory))}"
            " -c fsync=off -c full_page_writes=off"
        )
        try:
            self._run(
                "pg_ctl", "start",
                "--pgdata", str(self.data),
                "--log", str(self.log),
                "--options", settings,
                "--wait", "--timeout", str(int(START_SECONDS)),
            )  # fmt: skip
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n{_tail(self.log)}") from None
        self._running = True

    def stop(self) -> None:
        """A fast shutdown: the server ends every session (clients see their connection close),
        writes a checkpoint and exits; committed data is all there at the next start."""
        if not self._running:
            return
        self._run(
            "pg_ctl", "stop",
            "--pgdata", str(self.data),
            "--mode", "fast",
            "--wait", "--timeout", str(int(STOP_SECONDS)),
        )  # fmt: skip
        self._running = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server (immediately, if a fast stop fails) and remove its directory."""
        try:
            self.stop()
        except (RuntimeError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "stop", "--pgdata", str(self.data), "--mode", "immediate", check=False)
            self._running = False
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        command = [str(self.bin / program), *args]
        if self.as_root:
            command = ["runuser", "-u", self.USER, "--", *command]
        done = subprocess.run(
            command,
            cwd=self.directory,  # postgres cannot read root's working directory
            capture_output=True,
            text=True,
            timeout=START_SECONDS + 10,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
