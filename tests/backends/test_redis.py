"""What is particular to the Redis backend: its keys, their expiry, TLS, errors and reconnection."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from asgiway.backends import ConnectionRecord, Dsn
from asgiway.backends.redis import DELETE_ATTEMPTS, RETRIES, RedisBackend
from asgiway.exceptions import BackendError, ConfigurationError
from tests.support.services import REDIS_HOST, REDIS_PORT, listening, require
from tests.support.stores import drop_redis_keys

SECRET = "s3cret-Pa55"


def record(connection_id: str, expires_in: float = 3600.0) -> ConnectionRecord:
    return ConnectionRecord(
        connection_id, {"type": "websocket"}, {"id": connection_id}, time.time() + expires_in
    )


def build(dsn: str) -> RedisBackend:
    return RedisBackend.from_dsn(Dsn.parse(dsn))


def failure(error: BaseException) -> str:
    """Everything a log would show of `error`: its message, its causes and their tracebacks."""
    return "".join(traceback.format_exception(error))


@pytest.fixture
def server() -> Iterator[redis.Redis]:
    """A client of our own on the test server, to look at what the backend wrote."""
    require(listening(REDIS_HOST, REDIS_PORT), f"Redis on {REDIS_HOST}:{REDIS_PORT}")
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def prefix(server: redis.Redis) -> Iterator[str]:
    token = uuid.uuid4().hex[:12]
    yield f"t_{token}:"
    drop_redis_keys(token)


@pytest.fixture
def backend(prefix: str) -> Iterator[RedisBackend]:
    backend = build(f"redis://{REDIS_HOST}:{REDIS_PORT}/0?key_prefix={prefix}")
    yield backend
    backend.close()


def keys(server: redis.Redis, prefix: str) -> set[str]:
    return set(server.scan_iter(match=f"{prefix}*"))


# Keys


def test_key_layout(backend: RedisBackend, server: redis.Redis, prefix: str) -> None:
    backend.save(record("L0SM9cOFvHcCIhw="))
    backend.join("L0SM9cOFvHcCIhw=", "lobby")
    assert keys(server, prefix) == {
        f"{prefix}c:L0SM9cOFvHcCIhw%3D",
        f"{prefix}connections",
        f"{prefix}r:lobby",
        f"{prefix}m:L0SM9cOFvHcCIhw%3D",
    }
    stored = json.loads(server.get(f"{prefix}c:L0SM9cOFvHcCIhw%3D") or "")
    assert stored["state"] == {"id": "L0SM9cOFvHcCIhw="}


def test_ids_and_rooms_are_data_not_patterns(backend: RedisBackend, server: redis.Redis, prefix: str) -> None:
    for connection_id in ("*", "a", "{a}", "a:b", "[ab]", "?"):
        backend.save(record(connection_id))
        backend.join(connection_id, connection_id)
    backend.join("a", "*")
    for connection_id in ("*", "a"):
        loaded = backend.load(connection_id)
        assert loaded is not None
        assert loaded.state == {"id": connection_id}
    assert sorted(backend.members("*")) == ["*", "a"]
    assert backend.members("a") == ["a"]
    assert backend.members("?") == ["?"]
    assert backend.members("[ab]") == ["[ab]"]
    backend.delete("*")
    assert backend.load("a") is not None
    assert backend.members("a") == ["a"]
    assert backend.members("*") == ["a"]
    # No key holds a glob character, a hash tag or a ':' of an id's own.
    for key in keys(server, prefix):
        name = key.removeprefix(prefix)
        assert not set(name) & set("*?[]{}"), key
        assert name == "connections" or name.count(":") == 1, key


def test_every_key_of_the_default_prefix_is_in_one_hash_slot() -> None:
    """Cluster mode (ElastiCache Serverless) refuses a transaction or script across slots."""
    backend = build("rediss://cache.example.invalid")
    assert backend.key_prefix == "{asgiway}:"
    names = [backend._index_key]
    for name in ("L0SM9cOFvHcCIhw=", "{a}", "lobby", "é"):
        names += [backend._key(kind, name) for kind in ("c", "r", "m")]
    assert {key_slot(name.encode()) for name in names} == {key_slot(b"asgiway")}


def test_records_and_every_other_key_expire(backend: RedisBackend, server: redis.Redis, prefix: str) -> None:
    saved = record("a", expires_in=600)
    backend.save(saved)
    backend.join("a", "lobby")
    assert 0 < server.pttl(f"{prefix}c:a") <= 600_000
    assert server.pexpiretime(f"{prefix}c:a") == pytest.approx(saved.expires_at * 1000, abs=2)
    for key in keys(server, prefix):
        assert server.pttl(key) > 0, key


def test_index_key_lives_as_long_as_its_longest_record(
    backend: RedisBackend, server: redis.Redis, prefix: str
) -> None:
    backend.save(record("long", expires_in=3000))
    backend.save(record("short", expires_in=60))
    assert server.pttl(f"{prefix}connections") > 2_900_000


def test_a_record_past_its_expiry_by_this_clock_is_not_loaded(
    backend: RedisBackend, server: redis.Redis, prefix: str
) -> None:
    """Redis expires keys by its own clock, which may be behind this one."""
    backend.save(record("a"))
    server.set(f"{prefix}c:a", json.dumps({"scope": {}, "state": {}, "expires_at": time.time() - 1}))
    assert backend.load("a") is None


def test_update_moves_the_expiry_of_the_record_and_its_index_entry(
    backend: RedisBackend, server: redis.Redis, prefix: str
) -> None:
    backend.save(record("a", expires_in=600))
    later = record("a", expires_in=5000)
    assert backend.update(later) is True
    assert server.pexpiretime(f"{prefix}c:a") == pytest.approx(later.expires_at * 1000, abs=2)
    assert server.zscore(f"{prefix}connections", "a") == later.expires_at
    assert server.pttl(f"{prefix}connections") > 4_900_000


def test_update_of_a_dead_connection_writes_nothing(
    backend: RedisBackend, server: redis.Redis, prefix: str
) -> None:
    assert backend.update(record("a")) is False
    assert keys(server, prefix) == set()
    backend.save(record("b"))
    backend.delete("b")
    assert backend.update(record("b")) is False
    assert keys(server, prefix) == set()


def test_update_of_a_record_past_its_expiry_by_this_clock_writes_nothing(
    backend: RedisBackend, server: redis.Redis, prefix: str
) -> None:
    """Redis still holds the record (its clock is behind), but this machine calls it expired."""
    backend.save(record("a"))
    past = time.time() - 1
    server.set(f"{prefix}c:a", json.dumps({"scope": {}, "state": {}, "expires_at": past}), keepttl=True)
    server.zadd(f"{prefix}connections", {"a": past})
    assert backend.load("a") is None
    assert backend.update(record("a")) is False
    assert json.loads(server.get(f"{prefix}c:a") or "")["expires_at"] == past
    assert server.zscore(f"{prefix}connections", "a") == past


def test_the_database_number_is_used(prefix: str) -> None:
    backend = build(f"redis://{REDIS_HOST}:{REDIS_PORT}/1?key_prefix={prefix}")
    other = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=1, decode_responses=True)
    try:
        backend.save(record("a"))
        assert other.exists(f"{prefix}c:a") == 1
    finally:
        backend.delete("a")
        backend.close()
        other.close()


# Deletion


def test_delete_reads_again_when_a_join_races_it(
    backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.save(record("a"))
    backend.join("a", "lobby")
    client = backend._connect()
    read = client.zrange
    reads = 0

    def zrange_then_join(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        rooms = read(*args, **kwargs)
        if reads == 1:
            backend.join("a", "late")  # after the read, before the delete's script
        return rooms

    monkeypatch.setattr(client, "zrange", zrange_then_join)
    backend.delete("a")
    assert reads == 2
    assert backend.load("a") is None
    monkeypatch.undo()
    backend.save(record("a"))  # a membership left behind would show again now
    assert backend.members("late") == []
    assert backend.members("lobby") == []


def test_delete_gives_up_when_joins_keep_racing_it(
    backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.save(record("a"))
    client = backend._connect()
    read = client.zrange
    reads = 0

    def zrange_then_join(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        rooms = read(*args, **kwargs)
        backend.join("a", f"room-{reads}")
        return rooms

    monkeypatch.setattr(client, "zrange", zrange_then_join)
    with pytest.raises(BackendError, match=r"could not delete connection 'a': its rooms changed"):
        backend.delete("a")
    assert reads == DELETE_ATTEMPTS
    assert backend.load("a") is not None  # each attempt wrote nothing


# Ended connections


def text(server: redis.Redis, key: str) -> str:
    """The string at `key` (the client decodes replies)."""
    value = server.get(key)
    assert isinstance(value, str), value
    return value


def test_end_marks_the_record_in_place_and_takes_it_out_of_the_index_and_rooms(
    backend: RedisBackend, server: redis.Redis, prefix: str
) -> None:
    saved = record("a", expires_in=600)
    backend.save(saved)
    backend.save(record("b"))
    backend.join("a", "lobby")
    backend.join("b", "lobby")
    before = text(server, f"{prefix}c:a")
    assert backend.end("a", "gone") is True
    # The document's opening brace becomes the `ended` field; the rest is untouched, byte for byte.
    assert text(server, f"{prefix}c:a") == '{"ended":"gone",' + before[1:]
    assert server.pexpiretime(f"{prefix}c:a") == pytest.approx(saved.expires_at * 1000, abs=2)
    assert server.zscore(f"{prefix}connections", "a") is None
    assert server.zrange(f"{prefix}r:lobby", 0, -1) == ["b"]
    assert server.exists(f"{prefix}m:a") == 0
    assert backend.end("a", "closed") is True
    assert text(server, f"{prefix}c:a") == '{"ended":"gone",' + before[1:]


def test_update_of_an_ended_record_keeps_it_ended_and_out_of_the_index(
    backend: RedisBackend, server: redis.Redis, prefix: str
) -> None:
    backend.save(record("a", expires_in=600))
    assert backend.end("a", "gone") is True
    later = record("a", expires_in=5000)
    assert backend.update(later) is True
    assert json.loads(server.get(f"{prefix}c:a") or "")["ended"] == "gone"
    assert text(server, f"{prefix}c:a").startswith('{"ended":"gone","scope":')
    assert server.pexpiretime(f"{prefix}c:a") == pytest.approx(later.expires_at * 1000, abs=2)
    assert server.zscore(f"{prefix}connections", "a") is None


def test_a_record_of_the_previous_version_is_ended_and_updated_like_any(
    backend: RedisBackend, server: redis.Redis, prefix: str
) -> None:
    """Documents written by hand, with the spaces of json.dumps: the scripts do not depend on them."""
    expires_at = time.time() + 600
    document = json.dumps({"scope": {}, "state": {"n": 1}, "expires_at": expires_at})
    server.set(f"{prefix}c:a", document, pxat=int(expires_at * 1000) + 1)
    server.zadd(f"{prefix}connections", {"a": expires_at})
    assert backend.update(ConnectionRecord("a", {}, {"n": 2}, expires_at)) is True
    assert backend.end("a", "closed") is True
    loaded = backend.load("a")
    assert loaded is not None
    assert (loaded.ended, loaded.state) == ("closed", {"n": 2})


def test_end_reads_again_when_a_join_races_it(backend: RedisBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    backend.save(record("a"))
    backend.join("a", "lobby")
    client = backend._connect()
    read = client.zrange
    reads = 0

    def zrange_then_join(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        rooms = read(*args, **kwargs)
        if reads == 1:
            backend.join("a", "late")  # after the read, before the end's script
        return rooms

    monkeypatch.setattr(client, "zrange", zrange_then_join)
    assert backend.end("a", "gone") is True
    assert reads == 2
    monkeypatch.undo()
    backend.save(record("a"))  # a membership left behind would show again now
    assert backend.members("late") == []
    assert backend.members("lobby") == []


def test_end_gives_up_when_joins_keep_racing_it(
    backend: RedisBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend.save(record("a"))
    client = backend._connect()
    read = client.zrange
    reads = 0

    def zrange_then_join(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        rooms = read(*args, **kwargs)
        backend.join("a", f"room-{reads}")
        return rooms

    monkeypatch.setattr(client, "zrange", zrange_then_join)
    with pytest.raises(BackendError, match=r"could not end connection 'a': its rooms changed"):
        backend.end("a", "gone")
    assert reads == DELETE_ATTEMPTS
    loaded = backend.load("a")
    assert loaded is not None
    assert loaded.ended is None  # each attempt wrote nothing


class SilencingProxy:
    """A TCP proxy to the test server that goes silent on a connection once its client sends one of
    `triggers`, forwarding nothing more either way on it; every new connection works again until
    it sends one: a server that stops answering a command, however often it is resent."""

    def __init__(self, triggers: tuple[bytes, ...]) -> None:
        self.triggers = triggers
        self.connections = 0
        self.silenced = 0
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                downstream, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            upstream = socket.create_connection((REDIS_HOST, REDIS_PORT))
            self._sockets += [downstream, upstream]
            silent = threading.Event()
            for source, target, from_client in ((downstream, upstream, True), (upstream, downstream, False)):
                args = (source, target, from_client, silent)
                threading.Thread(target=self._forward, args=args, daemon=True).start()

    def _forward(
        self, source: socket.socket, target: socket.socket, from_client: bool, silent: threading.Event
    ) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                target.close()
                return
            if from_client and not silent.is_set() and any(trigger in data for trigger in self.triggers):
                self.silenced += 1
                silent.set()
            if silent.is_set():
                continue
            try:
                target.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_delete_fails_fast_when_the_server_goes_silent(backend: RedisBackend, prefix: str) -> None:
    """redis-py's `transaction()` takes a connection lost while WATCHing for a conflict and retries
    it forever, reconnecting each time: `delete` must not hang on a server that stops answering
    (one that hangs, or ElastiCache holding writes with CLIENT PAUSE WRITE during a failover)."""
    backend.save(record("a"))
    backend.join("a", "lobby")
    # Silent at the delete's write, whether a MULTI/EXEC or a script.
    proxy = SilencingProxy((b"EXEC", b"EVAL"))
    silenced = build(f"redis://127.0.0.1:{proxy.port}/0?key_prefix={prefix}&socket_timeout=1")
    errors: list[BaseException] = []

    def delete() -> None:
        try:
            silenced.delete("a")
        except BaseException as exc:
            errors.append(exc)

    deleting = threading.Thread(target=delete, daemon=True)
    started = time.monotonic()
    try:
        deleting.start()
        deleting.join(timeout=15)
        elapsed = time.monotonic() - started
        assert not deleting.is_alive(), "delete still retrying after 15 s"
    finally:
        proxy.close()  # refuses connections from now on, which ends even a delete that loops
        deleting.join(timeout=15)
        silenced.close()
    assert proxy.silenced >= 1
    assert len(errors) == 1
    assert isinstance(errors[0], BackendError)
    assert "Timeout" in str(errors[0]) or "timed out" in str(errors[0])
    # A timeout per attempt, and a new connection per resend at most.
    assert elapsed < 3 * (1 + RETRIES)
    assert proxy.connections <= 1 + RETRIES


# Connections


def test_reconnects_after_the_server_drops_the_connection(backend: RedisBackend, server: redis.Redis) -> None:
    backend.save(record("a"))
    ours = [client["id"] for client in server.client_list() if client["name"] == "asgiway"]
    assert ours
    for client_id in ours:
        server.client_kill_filter(_id=client_id)
    assert backend.load("a") is not None
    backend.save(record("b"))
    assert sorted(backend.connections()) == ["a", "b"]
    now = {client["id"] for client in server.client_list() if client["name"] == "asgiway"}
    assert now
    assert not now & set(ours)


def test_a_command_whose_connection_drops_midway_is_resent(
    backend: RedisBackend, server: redis.Redis
) -> None:
    backend.save(record("a"))
    ours = [client["id"] for client in server.client_list() if client["name"] == "asgiway"]
    errors: list[BaseException] = []

    def save() -> None:
        try:
            backend.save(record("b"))
        except BaseException as exc:
            errors.append(exc)

    # Paused, the server holds the save's MULTI/EXEC unanswered while its connection is killed.
    server.client_pause(500, all=False)
    try:
        saving = threading.Thread(target=save)
        saving.start()
        time.sleep(0.2)
        for client_id in ours:
            server.client_kill_filter(_id=client_id)
        saving.join(timeout=10)
    finally:
        server.client_unpause()
    assert errors == []
    assert sorted(backend.connections()) == ["a", "b"]


def test_an_unreachable_server_fails_at_first_use_naming_host_and_port_but_no_password() -> None:
    backend = build(f"redis://:{SECRET}@127.0.0.1:1/0")  # connects on first use, not here
    with pytest.raises(
        BackendError, match=r"redis 127\.0\.0\.1:1/0 prefix '\{asgiway\}:': .*onnect"
    ) as error:
        backend.load("a")
    assert SECRET not in failure(error.value)
    backend.close()


def test_a_password_for_a_server_without_one_is_refused(prefix: str) -> None:
    backend = build(f"redis://:{SECRET}@{REDIS_HOST}:{REDIS_PORT}/0?key_prefix={prefix}")
    with pytest.raises(
        BackendError, match=rf"{REDIS_HOST}:{REDIS_PORT}.*AUTH <password> called without"
    ) as error:
        backend.save(record("a"))
    assert SECRET not in failure(error.value)
    backend.close()


def test_a_wrong_password_names_the_server_but_not_the_password(server: redis.Redis, prefix: str) -> None:
    user = f"t_{uuid.uuid4().hex[:12]}"
    server.acl_setuser(user, enabled=True, passwords=["+the-right-one"], keys=["*"], commands=["+@all"])
    backend = build(f"redis://{user}:{SECRET}@{REDIS_HOST}:{REDIS_PORT}/0?key_prefix={prefix}")
    try:
        with pytest.raises(
            BackendError, match=rf"{REDIS_HOST}:{REDIS_PORT}.*invalid username-password"
        ) as error:
            backend.load("a")
        assert SECRET not in failure(error.value)
    finally:
        backend.close()
        server.acl_deluser(user)


def test_a_missing_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = build("redis://cache.example.invalid")
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'asgiway\[redis\]'"):
        backend.connections()


def test_importing_the_backend_does_not_import_the_driver() -> None:
    code = "import sys, asgiway.backends.redis\nprint('redis' in sys.modules)\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# The dsn


def test_rediss_builds_a_tls_client_without_connecting() -> None:
    backend = build(f"rediss://default:{SECRET}@cache.example.invalid:6380/0")
    pool = backend._connect().connection_pool
    assert pool.connection_class is redis.SSLConnection
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache.example.invalid", 6380, 0)
    assert (kwargs["username"], kwargs["password"]) == ("default", SECRET)
    assert kwargs["ssl_cert_reqs"] == "required"
    assert kwargs["ssl_check_hostname"] is True
    assert kwargs["client_name"] == "asgiway"
    backend.close()


def test_tls_options() -> None:
    backend = build("rediss://cache.example.invalid?ssl_cert_reqs=none&ssl_ca_certs=/opt/ca.pem")
    kwargs = backend._connect().connection_pool.connection_kwargs
    assert (kwargs["ssl_cert_reqs"], kwargs["ssl_check_hostname"]) == ("none", False)
    assert kwargs["ssl_ca_certs"] == "/opt/ca.pem"
    backend.close()


def test_plain_redis_is_not_tls() -> None:
    backend = build(f"redis://{SECRET}@cache.example.invalid?socket_timeout=0.5&socket_connect_timeout=2")
    pool = backend._connect().connection_pool
    assert pool.connection_class is redis.Connection
    kwargs = pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache.example.invalid", 6379, 0)
    # A single word before the '@' is the password, unlike in redis-py's own from_url.
    assert (kwargs["username"], kwargs["password"]) == (None, SECRET)
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.5, 2.0)
    backend.close()


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        (
            f"redis://:{SECRET}@h/0?key_prefx=x",
            "dsn 'redis://:***@h/0?key_prefx=x': query parameter 'key_prefx' is not one of"
            " key_prefix, socket_connect_timeout, socket_timeout, ssl_ca_certs, ssl_cert_reqs;"
            " did you mean 'key_prefix'?",
        ),
        ("redis://h?db=1", "query parameter 'db' is not one of"),
        ("redis://h?socket_timeout=soon", "socket_timeout 'soon' is not a number of seconds"),
        ("redis://h?socket_connect_timeout=0", "socket_connect_timeout '0' is not a positive number"),
        ("redis://h?socket_timeout=nan", "socket_timeout 'nan' is not a positive number"),
        ("rediss://h?ssl_cert_reqs=maybe", "ssl_cert_reqs 'maybe' is not one of none, optional, required"),
        ("redis://h?ssl_cert_reqs=none", "ssl_cert_reqs applies only to rediss:// (TLS)"),
    ],
)
def test_bad_parameters_fail_at_construction(dsn: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        build(dsn)
    assert message in str(error.value)
    assert SECRET not in str(error.value)


def test_describe() -> None:
    backend = build(f"redis://:{SECRET}@127.0.0.1:6379/2?key_prefix=t_x:")
    assert backend.describe() == "redis 127.0.0.1:6379/2 prefix 't_x:'"
    assert SECRET not in repr(backend)
    assert build("rediss://[::1]").describe() == "rediss [::1]:6379/0 prefix '{asgiway}:'"
