"""What is particular to the Redis backend: its keys, their expiry, TLS, errors and reconnection."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator

import pytest
import redis

from asgiway.backends import ConnectionRecord, Dsn
from asgiway.backends.redis import RedisBackend
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
    with pytest.raises(BackendError, match=r"redis 127\.0\.0\.1:1/0 prefix 'asgiway:': .*onnect") as error:
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
    assert build("rediss://[::1]").describe() == "rediss [::1]:6379/0 prefix 'asgiway:'"
