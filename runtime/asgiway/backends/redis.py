"""A network store shared by every Lambda container: Redis, Valkey or ElastiCache, through redis-py.

Every key starts with the dsn's `key_prefix`, by default `{asgiway}:`: a Cluster hash tag, so that
every key of the store hashes to one slot, as cluster mode asks of a transaction, a script or a
ZINTER. Several stores on one server need distinct prefixes; keep a hash tag in each
(`{myapp}:`), or cluster mode refuses them with CROSSSLOT. Connection ids and room names
are percent-encoded where they are part of a key, so that no id or room can reach another's key
through a ':', nor act as a glob pattern (`*`, `?`, `[`) or a Cluster hash tag (`{}`); in sorted
set members, which are plain values, they are stored as they are.

    <prefix>c:<id>        string   the record as JSON, expiring (PXAT) at its `expires_at`
    <prefix>connections   zset     every live connection id, scored by its record's `expires_at`
    <prefix>r:<room>      zset     the room's connection ids, scored by when the membership expires
    <prefix>m:<id>        zset     the connection's room names, scored the same way

An ended connection's record holds `"ended"` (why) as its document's first field, and its id is
out of the index; as `members`, `rooms` and `connections` all go through the index, none shows it.

Redis expires the record key itself, so no reader sees an expired record however long the store
goes unswept, and reads also compare `expires_at` with this machine's clock. A membership lasts the
record lifetime from its `join`, like the SQLite store's, and is visible only while the record is
live: `members` intersects the room with the index (ZINTER, AGGREGATE MIN) and keeps the ids whose
both scores are still ahead. Sorted sets are trimmed of expired members when written to, and each
key expires when its last member does (PEXPIREAT NX, then GT), so an abandoned store empties
itself. Listing never uses KEYS or SCAN.

Writes of several keys go in one MULTI/EXEC, or in one Lua script where a write depends on what
the store holds; Redis applies either atomically. Each script names every key it touches in KEYS,
as cluster mode requires. `update` writes the record only while it exists and its `expires_at`
is ahead of this machine's clock (the test `load` makes), so a connection deleted meanwhile stays
deleted, and keeps the `ended` the stored record holds, so an ended one stays ended and out of
the index. `delete` reads the connection's rooms, then runs a script that removes the record, the
index entry and every membership, but only if no room was joined since the read; if one was, it
reads again, at most `DELETE_ATTEMPTS` times in all. `end` goes the same way, marking the record
ended instead of removing it. (Neither uses WATCH: redis-py turns a connection lost while watching
into a conflict and retries that without limit, so a server that stops answering would hold them
forever.) Every command and script is idempotent, so redis-py may safely resend one after a
dropped connection or a timeout.

The scripts read a record's `expires_at` and `ended` where `ConnectionRecord.document()` puts
them, last and first, and mark a record ended by writing `{"ended":<reason>,` over its opening
brace, leaving the rest of the document as it was: decoding and encoding it with Redis's cjson
would round numbers to 14 digits, turn `{}` into `[]`, and fail on a lone surrogate's escape.

Needs Redis 7.0 or later (EXPIRE's NX and GT options), or any Valkey. ElastiCache Serverless
always uses TLS (`rediss://`) and runs in cluster mode: only database 0, and every key of the store
in one hash slot, which the default prefix ensures.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from asgiway.backends.base import RECORD_LIFETIME_SECONDS, Backend, ConnectionRecord, check_reason
from asgiway.backends.dsn import Dsn, did_you_mean
from asgiway.exceptions import BackendError, ConfigurationError

if TYPE_CHECKING:
    # An absolute import: the driver, not this module.
    from redis import Redis
    from redis.client import Pipeline
    from redis.commands.core import Script

DEFAULT_PORT = 6379
DEFAULT_KEY_PREFIX = "{asgiway}:"
#: redis-py would otherwise wait for a silent server until the Lambda function times out.
DEFAULT_TIMEOUT_SECONDS = 5.0
#: How often a command is resent after a dropped connection or a timeout, each time reconnecting.
RETRIES = 2
#: How often `delete` and `end` read the connection's rooms again when a `join` raced them.
DELETE_ATTEMPTS = 3
CLIENT_NAME = "asgiway"
#: What the `end` script answers when a `join` came between the read of the rooms and the script.
_ROOMS_CHANGED = 2
_CERT_REQS = ("none", "optional", "required")


def _seconds(value: str) -> str | None:
    try:
        number = float(value)
    except ValueError:
        return "is not a number of seconds"
    return None if math.isfinite(number) and number > 0 else "is not a positive number of seconds"


def _cert_reqs(value: str) -> str | None:
    return None if value in _CERT_REQS else f"is not one of {', '.join(_CERT_REQS)}"


def _anything(value: str) -> str | None:
    return None


# Each checker returns what is wrong with a value, or None when it is fine.
_PARAMETERS: dict[str, Callable[[str], str | None]] = {
    "key_prefix": _anything,
    "socket_timeout": _seconds,
    "socket_connect_timeout": _seconds,
    "ssl_cert_reqs": _cert_reqs,
    "ssl_ca_certs": _anything,
}
_TLS_PARAMETERS = ("ssl_cert_reqs", "ssl_ca_certs")

# Lua that sets `current` to the record at KEYS[1] and returns 0 unless it is there with an
# `expires_at` (its document's last field) after `now`.
_READ_UNEXPIRED = """
local current = redis.call('GET', KEYS[1])
if not current then
    return 0
end
local expires_at = tonumber(string.match(current, '"expires_at":%s*([^%s,}]+)%s*}%s*$'))
if not expires_at or expires_at <= now then
    return 0
end
"""

# KEYS: the record, the index. ARGV: the id, the record's document without `ended`, its expires_at
# in seconds and in milliseconds (PXAT), this machine's time in seconds, and the record's `ended`
# as JSON ("" when None). 1 when written, 0 when there is no record or it has expired. The
# reason the stored record holds wins over the given one: an ended record never turns live.
_UPDATE = (
    "local now = tonumber(ARGV[5])"
    + _READ_UNEXPIRED
    + """
local ended = string.match(current, '^{"ended":("%l+"),')
if not ended and ARGV[6] ~= '' then
    ended = ARGV[6]
end
if ended then
    redis.call('SET', KEYS[1], '{"ended":' .. ended .. ',' .. string.sub(ARGV[2], 2), 'PXAT', ARGV[4])
    redis.call('ZREM', KEYS[2], ARGV[1])
    return 1
end
redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[4])
redis.call('ZADD', KEYS[2], 'XX', ARGV[3], ARGV[1])
redis.call('PEXPIREAT', KEYS[2], ARGV[4], 'GT')
return 1
"""
)

# KEYS: the record, the connection's room set, the index, then the key of each room in ARGV[4..].
# ARGV: the id, the reason as JSON, this machine's time in seconds, then the rooms read from the
# room set. 0, writing nothing, when there is no record or it has expired; 2, writing nothing,
# when the room set holds a room not passed (a `join` came after the read); else 1: the record
# marked ended (unless it already was, keeping its first reason), out of the index and every room.
_END = (
    "local now = tonumber(ARGV[3])"
    + _READ_UNEXPIRED
    + """
local passed = {}
for i = 4, #ARGV do
    passed[ARGV[i]] = true
end
for _, room in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if not passed[room] then
        return 2
    end
end
for i = 4, #KEYS do
    redis.call('ZREM', KEYS[i], ARGV[1])
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
if not string.match(current, '^{"ended":') then
    redis.call('SET', KEYS[1], '{"ended":' .. ARGV[2] .. ',' .. string.sub(current, 2), 'KEEPTTL')
end
return 1
"""
)

# KEYS: the record, the connection's room set, the index, then the key of each room in ARGV[2..].
# ARGV: the id, then the rooms read from the room set. 0, writing nothing, when the room set
# holds a room not passed (a `join` came after the read); else 1, everything removed.
_DELETE = """
local passed = {}
for i = 2, #ARGV do
    passed[ARGV[i]] = true
end
for _, room in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if not passed[room] then
        return 0
    end
end
for i = 4, #KEYS do
    redis.call('ZREM', KEYS[i], ARGV[1])
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""


class RedisBackend(Backend):
    """Connection records and room memberships in Redis keys under one prefix.

    One redis-py client per backend, created on first use and kept across warm invocations. Threads
    share it: its connection pool is thread-safe, lending each command or pipeline a connection of
    its own, so the lock here guards only the client's creation and `close`. A connection the
    server dropped (an idle timeout, a failover, CLIENT KILL) is replaced on the next command:
    the pool checks a connection before lending it, and redis-py retries a command whose
    connection breaks midway, up to `RETRIES` times.
    """

    schemes = ("redis", "rediss")

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        database: int = 0,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        socket_timeout: float = DEFAULT_TIMEOUT_SECONDS,
        socket_connect_timeout: float = DEFAULT_TIMEOUT_SECONDS,
        ssl_cert_reqs: str = "required",
        ssl_ca_certs: str | None = None,
    ) -> None:
        """`tls` is what `rediss://` asks for; `ssl_cert_reqs` and `ssl_ca_certs` apply only then
        (a CA bundle file, for a server whose certificate no public CA signed)."""
        self.host = host
        self.port = port
        self.database = database
        self.username = username
        self._password = password
        self.tls = tls
        self.key_prefix = key_prefix
        self.socket_timeout = socket_timeout
        self.socket_connect_timeout = socket_connect_timeout
        self.ssl_cert_reqs = ssl_cert_reqs
        self.ssl_ca_certs = ssl_ca_certs
        self._lock = threading.Lock()
        self._client: Redis | None = None
        self._scripts: dict[str, Script] = {}

    @classmethod
    def from_dsn(cls, dsn: Dsn) -> RedisBackend:
        if len(dsn.hosts) != 1 or not dsn.hosts[0][0]:  # only a Dsn built by hand, not by Dsn.parse
            raise ConfigurationError(f"dsn {dsn.redacted!r} must name one redis host")
        params = _checked(dsn)
        timeouts = {
            name: float(params[name])
            for name in ("socket_timeout", "socket_connect_timeout")
            if name in params
        }
        host, port = dsn.hosts[0]
        return cls(
            host,
            port or DEFAULT_PORT,
            database=int(dsn.database or 0),
            username=dsn.username,
            password=dsn.password,
            tls=dsn.scheme == "rediss",
            key_prefix=params.get("key_prefix", DEFAULT_KEY_PREFIX),
            ssl_cert_reqs=params.get("ssl_cert_reqs", "required"),
            ssl_ca_certs=params.get("ssl_ca_certs"),
            **timeouts,
        )

    def describe(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme} {host}:{self.port}/{self.database} prefix {self.key_prefix!r}"

    def save(self, record: ConnectionRecord) -> None:
        self.check_names(connection_id=record.connection_id)
        payload = record.document()
        with self._use() as client, client.pipeline() as pipe:
            # An expires_at already past makes SET delete the key: the record is dead at once.
            pipe.set(self._key("c", record.connection_id), payload, pxat=_milliseconds(record.expires_at))
            if record.ended is None:
                _add(pipe, self._index_key, record.connection_id, record.expires_at)
            else:
                pipe.zrem(self._index_key, record.connection_id)
            pipe.execute()

    def update(self, record: ConnectionRecord) -> bool:
        self.check_names(connection_id=record.connection_id)
        keys = [self._key("c", record.connection_id), self._index_key]
        args: list[str | int] = [
            record.connection_id,
            replace(record, ended=None).document(),
            repr(float(record.expires_at)),
            _milliseconds(record.expires_at),
            repr(time.time()),
            "" if record.ended is None else json.dumps(record.ended),
        ]
        with self._use() as client:
            return bool(self._run(client, _UPDATE, keys, args))

    def load(self, connection_id: str) -> ConnectionRecord | None:
        with self._use() as client:
            payload = client.get(self._key("c", connection_id))
        if payload is None:
            return None
        loaded = ConnectionRecord.from_document(connection_id, payload)
        # Redis expires the key by its own clock; this one may be ahead of it.
        return None if loaded.expired else loaded

    def delete(self, connection_id: str) -> None:
        memberships = self._key("m", connection_id)
        with self._use() as client:
            for _ in range(DELETE_ATTEMPTS):
                rooms = cast(list[str], client.zrange(memberships, 0, -1))
                keys = [self._key("c", connection_id), memberships, self._index_key]
                keys += [self._key("r", room) for room in rooms]
                if self._run(client, _DELETE, keys, [connection_id, *rooms]):
                    return
        raise BackendError(
            f"{self.describe()}: could not delete connection {connection_id!r}: its rooms changed"
            f" during each of {DELETE_ATTEMPTS} attempts"
        )

    def end(self, connection_id: str, reason: str) -> bool:
        check_reason(reason)
        memberships = self._key("m", connection_id)
        with self._use() as client:
            for _ in range(DELETE_ATTEMPTS):
                rooms = cast(list[str], client.zrange(memberships, 0, -1))
                keys = [self._key("c", connection_id), memberships, self._index_key]
                keys += [self._key("r", room) for room in rooms]
                args: list[str | int] = [connection_id, json.dumps(reason), repr(time.time()), *rooms]
                ended = self._run(client, _END, keys, args)
                if ended != _ROOMS_CHANGED:
                    return bool(ended)
        raise BackendError(
            f"{self.describe()}: could not end connection {connection_id!r}: its rooms changed"
            f" during each of {DELETE_ATTEMPTS} attempts"
        )

    def join(self, connection_id: str, room: str) -> None:
        self.check_names(connection_id=connection_id, room_name=room)
        expires_at = time.time() + RECORD_LIFETIME_SECONDS
        with self._use() as client, client.pipeline() as pipe:
            _add(pipe, self._key("r", room), connection_id, expires_at)
            _add(pipe, self._key("m", connection_id), room, expires_at)
            pipe.execute()

    def leave(self, connection_id: str, room: str) -> None:
        with self._use() as client, client.pipeline() as pipe:
            pipe.zrem(self._key("r", room), connection_id)
            pipe.zrem(self._key("m", connection_id), room)
            pipe.execute()

    def members(self, room: str) -> list[str]:
        with self._use() as client:
            # An id in both sets, scored by the earlier of its membership's and its record's expiry.
            scored = cast(
                list[tuple[str, float]],
                client.zinter([self._key("r", room), self._index_key], aggregate="MIN", withscores=True),
            )
        now = time.time()
        return [connection_id for connection_id, expires_at in scored if expires_at > now]

    def rooms(self, connection_id: str) -> list[str]:
        now = time.time()
        with self._use() as client, client.pipeline() as pipe:
            pipe.zscore(self._index_key, connection_id)
            pipe.zrangebyscore(self._key("m", connection_id), _after(now), "+inf")
            expires_at, rooms = pipe.execute()
        return cast(list[str], rooms) if expires_at is not None and expires_at > now else []

    def connections(self) -> list[str]:
        with self._use() as client:
            return cast(list[str], client.zrangebyscore(self._index_key, _after(time.time()), "+inf"))

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
                self._scripts.clear()

    @property
    def _index_key(self) -> str:
        return f"{self.key_prefix}connections"

    def _key(self, kind: str, name: str) -> str:
        # quote(safe="") leaves only letters, digits and "_.-~": no ':', glob character or brace.
        return f"{self.key_prefix}{kind}:{quote(name, safe='')}"

    def _run(self, client: Redis, source: str, keys: list[str], args: list[str | int]) -> Any:
        """Run a Lua script by its SHA1 (EVALSHA), loading it first when the server lacks it."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts.setdefault(source, client.register_script(source))
        return script(keys, args, client=client)

    @contextmanager
    def _use(self) -> Iterator[Redis]:
        """The client, with redis-py's errors turned into BackendError."""
        client = self._connect()
        from redis.exceptions import RedisError

        try:
            yield client
        except RedisError as exc:
            raise BackendError(self._message(exc)) from exc

    def _connect(self) -> Redis:
        """The client, created on first use; creating it opens no connection yet."""
        with self._lock:
            if self._client is None:
                self._client = self._create_client()
            return self._client

    def _create_client(self) -> Redis:
        try:
            import redis
        except ImportError:
            raise ConfigurationError(
                f"{self.describe()}: the redis driver is not installed; pip install 'asgiway[redis]'"
            ) from None
        from redis.backoff import ExponentialWithJitterBackoff
        from redis.retry import Retry

        tls: dict[str, Any] = {}
        if self.tls:
            tls = {
                "ssl": True,
                "ssl_cert_reqs": self.ssl_cert_reqs,
                "ssl_ca_certs": self.ssl_ca_certs,
                # Python's ssl refuses to check the host name of a certificate it does not verify.
                "ssl_check_hostname": self.ssl_cert_reqs != "none",
            }
        return redis.Redis(
            host=self.host,
            port=self.port,
            db=self.database,
            username=self.username,
            password=self._password,
            socket_timeout=self.socket_timeout,
            socket_connect_timeout=self.socket_connect_timeout,
            retry=Retry(ExponentialWithJitterBackoff(cap=0.5, base=0.05), RETRIES),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError],
            client_name=CLIENT_NAME,
            # RESP2, which every server speaks and whose replies redis-py shapes alike from version 5
            # on. (redis-py 8 defaults to RESP3, whose HELLO AUTH lets any password into a server
            # without one, where RESP2's AUTH says the configuration is wrong.)
            protocol=2,
            # Replies are str, not bytes: this module's casts rely on it, which redis-py cannot type.
            decode_responses=True,
            **tls,
        )

    def _message(self, exc: Exception) -> str:
        # redis-py's messages name the host and port but not the password; be sure of it.
        detail = str(exc)
        if self._password:
            detail = detail.replace(self._password, "***")
        return f"{self.describe()}: {detail}"


def _checked(dsn: Dsn) -> Mapping[str, str]:
    """The dsn's query parameters, each known to this backend and valid."""
    known = sorted(_PARAMETERS)
    for name, value in dsn.params.items():
        check = _PARAMETERS.get(name)
        if check is None:
            raise ConfigurationError(
                f"dsn {dsn.redacted!r}: query parameter {name!r} is not one of {', '.join(known)}"
                f"{did_you_mean(name, known)}"
            )
        problem = check(value)
        if problem:
            raise ConfigurationError(f"dsn {dsn.redacted!r}: {name} {value!r} {problem}")
        if name in _TLS_PARAMETERS and dsn.scheme != "rediss":
            raise ConfigurationError(f"dsn {dsn.redacted!r}: {name} applies only to rediss:// (TLS)")
    return dsn.params


def _add(pipe: Pipeline, key: str, member: str, expires_at: float) -> None:
    """Queue: add `member` to the sorted set at `key` scored by `expires_at`, drop the members
    already expired, and make the key expire with its last member."""
    pipe.zadd(key, {member: expires_at})
    pipe.zremrangebyscore(key, "-inf", time.time())
    deadline = _milliseconds(expires_at)
    # NX gives a new key its expiry; GT pushes an existing one later, never earlier.
    pipe.pexpireat(key, deadline, nx=True)
    pipe.pexpireat(key, deadline, gt=True)


def _milliseconds(unix_time: float) -> int:
    # Rounded up, so that Redis never drops a record that `expires_at` still calls live.
    return math.ceil(unix_time * 1000)


def _after(unix_time: float) -> str:
    """A ZRANGEBYSCORE bound: scores greater than `unix_time`, not equal to it."""
    return f"({unix_time!r}"
