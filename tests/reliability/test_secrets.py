"""No secret reaches a log, an exception or a Lambda response, even with every logger at DEBUG.

The secrets: every dsn's password (PostgreSQL, a password-protected Redis started here, passwords
in bad dsns, the one Secrets Manager holds), the client's `Authorization` and `Cookie` header
values (the app reads them, so they are in the scope asgiway stores), per-connection state values,
the frames the app sends, and the AWS session token botocore signs with. Each is a random string
made at import, so that no source line in a traceback can hold one by accident.

What is searched, after realistic sessions on all five stores and their failures: every record of
every logger (asgiway, botocore, urllib3, boto3, redis, asyncio...), formatted as a handler would
(message with its arguments, traceback, stack) and also as its raw attributes (structured
handlers emit those); whatever reached stdout and stderr (file descriptors, so C libraries too);
warnings; the text and traceback of every exception raised; every Lambda response.

AWS is moto in a process of its own, so that what the stand-in server logs (it is AWS's side)
never mixes with what the function logs. The @connections double runs in this process and logs
nothing.
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import subprocess
import sys
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from asgiway import Adapter, deferred
from asgiway.backends import ConnectionRecord, from_dsn
from asgiway.connections import Connections
from asgiway.entrypoint import adapter_from_environment
from asgiway.exceptions import BackendError, ConfigurationError
from asgiway.secrets import password_from_secret, with_password
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    http_event,
    message_event,
)
from asgiway.types import LambdaResponse
from tests.support.services import POSTGRES_HOST, POSTGRES_PORT, listening, postgres_dsn, require


def _secret(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


SECRETS = {
    kind: _secret(kind)
    for kind in (
        "pgpassword",  # the PostgreSQL dsn's (trust auth accepts any)
        "redispassword",  # the private Redis server's requirepass, kept in Secrets Manager too
        "wrongpassword",  # a Redis dsn's password that the server refuses
        "dsnpassword",  # in every bad dsn
        "querypassword",  # a password given as a dsn query parameter
        "bearer",  # Authorization: Bearer <it>
        "cookie",  # Cookie: session=<it>
        "state",  # a per-connection state value
        "rotated",  # the state value after the app changed it
        "frame",  # in every frame the app sends
        "sessiontoken",  # the AWS session token botocore signs with (on Lambda, the role's)
    )
}
BEARER, COOKIE, STATE, ROTATED, FRAME = (
    SECRETS[kind] for kind in ("bearer", "cookie", "state", "rotated", "frame")
)
CLIENT_HEADERS = {"Authorization": f"Bearer {BEARER}", "Cookie": f"session={COOKIE}; theme=dark"}


# --- The app: it reads the credentials, keeps state, sends frames, broadcasts, fails -------------


def _authorized(headers: Any, cookies: Any) -> bool:
    return bool(headers.get("authorization") == f"Bearer {BEARER}" and cookies.get("session") == COOKIE)


async def whoami(request: Request) -> PlainTextResponse:
    if not _authorized(request.headers, request.cookies):
        return PlainTextResponse("who are you?", status_code=401)
    return PlainTextResponse("hello")


async def failing(request: Request) -> PlainTextResponse:
    _authorized(request.headers, request.cookies)
    raise RuntimeError("the app failed while serving HTTP")


async def chat(websocket: WebSocket) -> None:
    if not _authorized(websocket.headers, websocket.cookies):
        await websocket.close(code=4401)
        return
    await websocket.accept()
    connections = Connections.of(websocket)
    state = websocket.state
    if websocket.scope["asgiway.event"] == "connect":
        state.session = websocket.cookies["session"]
        state.api_key = STATE
        await connections.join("lobby")
        await websocket.send_text(f"welcome {FRAME}")
    while True:
        command = await websocket.receive_text()
        assert state.api_key in (STATE, ROTATED)  # restored from the store
        if command == "broadcast":
            result = await connections.broadcast(f"news {FRAME}", room="lobby")
            state.report = {"sent": sorted(result.sent), "gone": result.gone, "failed": result.failed}
        elif command == "rotate":
            state.api_key = ROTATED
        elif command == "not-json":
            state.pair = (STATE, ROTATED)  # reads back as a list: not stored, and named without its value
        elif command == "huge":
            state.blob = STATE * 2000  # over the 64 KB limit: not stored
        elif command == "surrogate":
            state.api_key = f"\ud800{STATE}"  # JSON holds it; UTF-8 cannot
        elif command == "info":
            await connections.info()
        elif command == "raise":
            raise RuntimeError("the app failed during a WebSocket event")
        else:
            await websocket.send_text(f"echo {FRAME}")


app = Starlette(
    routes=[Route("/me", whoami), Route("/fail", failing), WebSocketRoute("/ws", chat)],
)


# --- What is searched ------------------------------------------------------------------------


class Leaks:
    """Collects every text a secret could reach, and says where a secret was found."""

    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        self.capfd = capfd
        self.texts: list[tuple[str, str]] = []
        self.records: list[logging.LogRecord] = []
        self.warnings: list[warnings.WarningMessage] = []

    def observe(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def response(self, response: LambdaResponse) -> LambdaResponse:
        self.observe("a Lambda response", json.dumps(response, default=repr))
        return response

    def exception(self, error: BaseException) -> None:
        """Its message and its traceback, chain included: what Lambda's runtime and logging print."""
        self.observe(f"a {type(error).__name__}", "".join(traceback.format_exception(error)))

    @contextmanager
    def raises(self, kind: type[BaseException]) -> Iterator[None]:
        """Like pytest.raises, keeping the exception's text and traceback (its chain included)."""
        with pytest.raises(kind) as caught:
            yield
        self.exception(caught.value)

    def logged(self, fragment: str) -> bool:
        return any(fragment in text for where, text in self.texts if where.startswith("log "))

    def check(self) -> None:
        """Fail, naming each place, if any secret is anywhere; the failure shows no secret."""
        out, err = self.capfd.readouterr()
        self.observe("stdout", out)
        self.observe("stderr", err)
        for warning in self.warnings:
            self.observe("a warning", f"{warning.category.__name__}: {warning.message}")
        found = []
        for where, text in self.texts:
            for kind, secret in SECRETS.items():
                at = text.find(secret)
                if at >= 0:
                    context = text[max(0, at - 300) : at + len(secret) + 100]
                    for name, value in SECRETS.items():
                        context = context.replace(value, f"<{name}>")
                    found.append(f"{kind} in {where}: ...{context}...")
        assert not found, f"{len(found)} leaks:\n\n" + "\n\n".join(found[:20])


class _Everything(logging.Handler):
    def __init__(self, leaks: Leaks) -> None:
        super().__init__(logging.NOTSET)
        self.leaks = leaks
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s [%(threadName)s] %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.leaks.records.append(record)
        self.leaks.observe(f"log {record.name}", self.format(record) + "\n" + repr(vars(record)))


@pytest.fixture
def leaks(capfd: pytest.CaptureFixture[str]) -> Iterator[Leaks]:
    """Every logger at DEBUG, propagating to one handler that keeps all; warnings kept too."""
    found = Leaks(capfd)
    handler = _Everything(found)
    root = logging.getLogger()
    known = logging.Logger.manager.loggerDict.values()
    loggers = [item for item in known if isinstance(item, logging.Logger)]
    saved = [(item, item.level, item.propagate, item.disabled) for item in loggers]
    root_level = root.level
    for item in loggers:
        item.setLevel(logging.NOTSET)
        item.propagate = True
        item.disabled = False
    logging.disable(logging.NOTSET)
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            found.warnings = caught
            yield found
    finally:
        root.removeHandler(handler)
        root.setLevel(root_level)
        for item, level, propagate, disabled in saved:
            item.setLevel(level)
            item.propagate = propagate
            item.disabled = disabled


# --- The servers: moto and a password-protected Redis, each a process owned by this module ------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def _server(command: list[str], port: int, what: str) -> Iterator[None]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not listening("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{what} did not start on 127.0.0.1:{port}")
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def aws() -> Iterator[str]:
    """moto's endpoint URL; its process, not this one, logs what AWS's side would."""
    port = _free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with _server(command, port, "moto"):
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    """A Redis server of this module's own, which demands SECRETS["redispassword"]."""
    binary = shutil.which("redis-server")
    require(binary is not None, "redis-server (the binary, to start a password-protected Redis)")
    assert binary is not None
    port = _free_port()
    command = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    command += ["--requirepass", SECRETS["redispassword"]]
    with _server(command, port, "redis-server"):
        yield port


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    require(listening(POSTGRES_HOST, POSTGRES_PORT), f"PostgreSQL on {POSTGRES_HOST}:{POSTGRES_PORT}")
    import psycopg2

    schema = f"s_{uuid.uuid4().hex[:12]}"
    connection = psycopg2.connect(postgres_dsn())
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA "{schema}"')
    yield schema
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
    connection.close()


@pytest.fixture(autouse=True)
def signed_with_a_session_token(aws_test_credentials: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on Lambda, where the role's credentials include a session token that botocore signs."""
    monkeypatch.setenv("AWS_SESSION_TOKEN", SECRETS["sessiontoken"])


@pytest.fixture
def dsn_for(
    request: pytest.FixtureRequest, tmp_path: Path, aws: str, redis_port: int
) -> Callable[[str], str]:
    """A dsn on each store, as a user would write it; PostgreSQL's and Redis's hold a password."""

    def dsn(store: str) -> str:
        token = uuid.uuid4().hex[:12]
        if store == "postgresql":
            schema: str = request.getfixturevalue("postgres_schema")
            return with_password(postgres_dsn(schema), SECRETS["pgpassword"])
        return {
            "sqlite": f"sqlite://{tmp_path}/{token}.db",
            "redis": f"redis://:{SECRETS['redispassword']}@127.0.0.1:{redis_port}/0?key_prefix=t_{token}:",
            "dynamodb": f"dynamodb://T_{token}?create=true&region=us-east-1&endpoint_url={aws}",
            "s3": f"s3://t-{token}/connections/?create=true&region=us-east-1&endpoint_url={aws}",
        }[store]

    return dsn


def serve(dsn: str, api: ConnectionsApiDouble) -> Adapter:
    # The app checks its token and cookie at every event, so they are stored (`stored_credentials`):
    # what is tested is that even a stored credential reaches no log line.
    return Adapter(
        app,
        dsn=dsn,
        websocket_path="/ws",
        lifespan="off",
        api_gateway_endpoint_url=api.endpoint_url,
        stored_credentials=["authorization", "cookie"],
    )


def run(leaks: Leaks, handler: Adapter, event: dict[str, Any]) -> int:
    """The status of the handler's answer to `event` (kept for the search)."""
    status: int = leaks.response(handler(event, LambdaContextStub()))["statusCode"]
    return status


def connect(leaks: Leaks, handler: Adapter, connection_id: str) -> int:
    status = run(leaks, handler, connect_event(connection_id, headers=CLIENT_HEADERS))
    deferred.wait_for_delivery(connection_id)  # the welcome frame, posted right after the handshake
    return status


# --- The tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["sqlite", "postgresql", "redis", "dynamodb", "s3"])
def test_a_whole_session_on_each_store_leaks_nothing(
    store: str, dsn_for: Callable[[str], str], connections_api: ConnectionsApiDouble, leaks: Leaks
) -> None:
    handler = serve(dsn_for(store), connections_api)
    leaks.observe("the backend's repr", repr(handler.backend))

    http = [
        http_event("GET", "/me", headers=CLIENT_HEADERS),
        http_event("GET", "/fail", headers=CLIENT_HEADERS),
        http_event("POST", "/me", headers=CLIENT_HEADERS, body=f"token={BEARER}"),
    ]
    assert [run(leaks, handler, event) for event in http] == [200, 500, 405]
    assert [connect(leaks, handler, cid) for cid in ("a=", "b=", "c=", "d=")] == [200] * 4
    assert connections_api.sent("a=") == [f"welcome {FRAME}".encode()]
    assert run(leaks, handler, connect_event("x=", headers={"Authorization": "Bearer nope"})) == 403

    assert handler.backend is not None
    for connection_id in ("a=", "b=", "c=", "d="):  # connected a minute ago, past the handshake's grace
        record = handler.backend.load(connection_id)
        assert record is not None
        handler.backend.update(replace(record, expires_at=record.expires_at - 60))
    connections_api.gone.add("c=")  # left without a $disconnect: a 410, and its record goes
    connections_api.statuses["d="] = 403  # refused: reported in the broadcast's result
    steps = ["broadcast", "rotate", "not-json", "huge", "info", "echo", "raise", "broadcast"]
    assert [run(leaks, handler, message_event("a=", step)) for step in steps] == [
        200, 200, 200, 200, 200, 200, 500, 200,
    ]  # fmt: skip
    record = handler.backend.load("a=")
    assert record is not None
    assert record.state["api_key"] == ROTATED
    assert record.state["report"]["gone"] == []
    assert "d=" in record.state["report"]["failed"]
    assert "c=" not in handler.backend.connections()

    connections_api.gone.add("b=")
    assert run(leaks, handler, message_event("b=", "echo")) == 200  # the caller is gone: removed
    assert run(leaks, handler, message_event("nobody=", "echo")) == 410
    assert run(leaks, handler, disconnect_event("a=", code=1001)) == 200
    assert run(leaks, handler, disconnect_event("d=")) == 200
    handler.close()

    # Not vacuous: the records that held the data were there, at DEBUG.
    assert leaks.logged("Per-connection state 'pair'")
    assert leaks.logged("exceeds 65536")
    assert leaks.logged("The app raised during MESSAGE")
    # Starlette answers 500 itself, then raises again for the server to log: after answering.
    assert leaks.logged("The app raised after answering GET /fail")
    # Posts are signed by botocore's SigV4Auth and sent by urllib3 (asgiway.signed_posts).
    assert leaks.logged('"POST /test/@connections/')
    assert leaks.logged("CanonicalRequest: (not logged")
    if store == "dynamodb":
        assert leaks.logged("Making request for OperationModel(name=PutItem)")
        assert leaks.logged("Response body")
    leaks.check()


def test_a_state_holding_a_lone_surrogate_leaks_nothing(
    dsn_for: Callable[[str], str], connections_api: ConnectionsApiDouble, leaks: Leaks
) -> None:
    """A lone surrogate: valid JSON, no UTF-8 form; stored as JSON escapes, never raised."""
    outcomes: dict[str, int] = {}
    for store in ("sqlite", "postgresql", "redis", "dynamodb", "s3"):
        handler = serve(dsn_for(store), connections_api)
        connection_id = f"{store}="
        assert connect(leaks, handler, connection_id) == 200
        outcomes[store] = run(leaks, handler, message_event(connection_id, "surrogate"))
        handler.close()
    assert outcomes == dict.fromkeys(("sqlite", "postgresql", "redis", "dynamodb", "s3"), 200)
    leaks.check()


def test_store_and_connections_failures_leak_nothing(
    aws: str, redis_port: int, connections_api: ConnectionsApiDouble, leaks: Leaks
) -> None:
    closed = _free_port()
    password, query_password = SECRETS["pgpassword"], SECRETS["querypassword"]
    failing = {
        "redis, wrong password": f"redis://:{SECRETS['wrongpassword']}@127.0.0.1:{redis_port}/0",
        "redis, user and wrong password": f"redis://default:{SECRETS['wrongpassword']}@127.0.0.1:{redis_port}",
        # The shared Redis has no password: AUTH is refused (and were it down, the connection).
        "redis, a password for a server without one": f"redis://:{SECRETS['wrongpassword']}@127.0.0.1:6379",
        "redis, nobody listening": (
            f"redis://:{SECRETS['redispassword']}@127.0.0.1:{closed}/0?socket_connect_timeout=0.5"
        ),
        "postgresql, nobody listening": f"postgresql://postgres:{password}@127.0.0.1:{closed}/test",
        "postgresql, two hosts, nobody listening": (
            f"postgresql://postgres:{password}@127.0.0.1:{closed},127.0.0.1:{_free_port()}/test"
        ),
        "postgresql, password in the query": (
            f"postgresql://postgres@127.0.0.1:{closed}/test?password={query_password}&connect_timeout=2"
        ),
        "postgresql, a parameter libpq refuses": (
            f"postgresql://postgres:{password}@127.0.0.1:5432/test?sslmode=sometimes"
        ),
        "postgresql, no such database": f"postgresql://postgres:{password}@127.0.0.1:5432/nowhere_{closed}",
        "dynamodb, nobody listening": f"dynamodb://T_x?region=us-east-1&endpoint_url=http://127.0.0.1:{closed}",
        "dynamodb, no such table": f"dynamodb://T_{uuid.uuid4().hex}?region=us-east-1&endpoint_url={aws}",
        "s3, nobody listening": f"s3://t-x/?region=us-east-1&endpoint_url=http://127.0.0.1:{closed}",
        "s3, no such bucket": f"s3://t-{uuid.uuid4().hex}/?region=us-east-1&endpoint_url={aws}",
    }
    for name, dsn in failing.items():
        handler = serve(dsn, connections_api)
        # The app's own join fails first (500); without the app, the store's failure is a 503.
        assert run(leaks, handler, connect_event("a=", headers=CLIENT_HEADERS)) == 500, name
        assert run(leaks, handler, message_event("a=", "echo")) == 503, name
        with leaks.raises(BackendError):
            from_dsn(dsn).save(_record())
        handler.close()
    assert leaks.logged("The store failed during MESSAGE")

    # @connections out of reach: the store works, every post fails.
    gone_api = Adapter(
        app,
        dsn=f"dynamodb://T_{uuid.uuid4().hex[:8]}?create=true&region=us-east-1&endpoint_url={aws}",
        websocket_path="/ws",
        lifespan="off",
        api_gateway_endpoint_url=f"http://127.0.0.1:{closed}/test",
        stored_credentials=["authorization", "cookie"],  # as in serve(): the app re-checks them
    )
    assert run(leaks, gone_api, connect_event("a=", headers=CLIENT_HEADERS)) == 200
    deferred.wait_for_delivery("a=")
    assert run(leaks, gone_api, message_event("a=", "echo")) == 500  # the app's send raised
    assert run(leaks, gone_api, message_event("a=", "broadcast")) == 200
    gone_api.close()
    assert leaks.logged("Delivering CONNECT frames to a= failed")
    leaks.check()


def _record() -> ConnectionRecord:
    scope = {"headers": [[name.lower(), value] for name, value in CLIENT_HEADERS.items()]}
    return ConnectionRecord("a=", scope, {"api_key": STATE})


BAD_DSNS = [
    "postgresql://user:{pw}@db.internal:notaport/app",
    "postgresql://user:{pw}@db.internal:99999/app",
    "postgresql://user:{pw}@db.internal/app?sslmode=require&&x=1",
    "postgresql://user:{pw}@db.internal/app?options==x",
    "postgresql://user:{pw}@[::1/app",
    "postgresql://user:{pw}@db.internal/app?sslmode=re\nquire",
    "postgresql://user:{pw}@db.internal/my@app",
    "postgresql://user:{pw}%zz@db.internal/app",
    "postgresql://user:{pw}@db.internal/app?password={pw}&application_name=%",
    "postgres://user:{pw}@db.internal:0/app",
    "redis://:{pw}@cache.internal:6379/zero",
    "redis://:{pw}@cache.internal:6379,other:6379/0",
    "redis://:{pw}@cache internal:6379/0",
    "redis://:{pw}@:6379/0",
    "redis://user:{pw}@cache.internal/0?bogus=1",
    "redis://user:{pw}@cache.internal/0?socket_timeout=-1",
    "redis://user:{pw}@cache.internal/0?key_prefix=a&key_prefix=b",
    "redis://:{pw}@cache.internal/0?ssl_cert_reqs=required",
    "rediss://:{pw}@cache.internal/0?ssl_cert_reqs=sometimes",
    "redis://:{pw}/x@cache.internal:6379/0",
    "redis://:{pw}?x@cache.internal:6379/0",
    "redis://:{pw}#x@cache.internal:6379/0",
    "redis://us/er:{pw}@cache.internal:6379/0",
    "redis://{pw}@cache.internal:6379/0/1",
    "dynamodb://user:{pw}@table",
    "dynamodb://table?region=eu-west-1&password={pw}&x",
    "s3://user:{pw}@bucket/prefix/",
    "s3://bucket/prefix/?secret={pw}",
    "sqlite://file.db?password={pw}",
    "mongodb://user:{pw}@mongo.internal/app",
    "postgresqll://user:{pw}@db.internal/app",
    "{pw}",
    "://user:{pw}@db.internal/app",
    "Postgre SQL://user:{pw}@db.internal/app",
]


def test_bad_dsns_never_echo_their_password(leaks: Leaks) -> None:
    for template in BAD_DSNS:
        dsn = template.format(pw=SECRETS["dsnpassword"])
        with leaks.raises(ConfigurationError):
            Adapter(app, dsn=dsn)
        with leaks.raises(ConfigurationError):
            Connections(dsn, endpoint_url="http://127.0.0.1:9/test")
    for dsn in ("redis://cache.internal:notaport/0", "postgresql://user@[::1/app", "nothing at all"):
        with leaks.raises(ConfigurationError):
            with_password(dsn, SECRETS["dsnpassword"])
    with leaks.raises(ConfigurationError):
        with_password(f"postgresql://user:{SECRETS['dsnpassword']}@db.internal/app", "another")
    leaks.check()


def test_the_secrets_manager_path_leaks_nothing(
    aws: str,
    redis_port: int,
    connections_api: ConnectionsApiDouble,
    monkeypatch: pytest.MonkeyPatch,
    leaks: Leaks,
) -> None:
    """The Redis password lives only in Secrets Manager; the function reads it and serves."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", aws)
    logging.disable(logging.CRITICAL)  # the test's own setup call is not the function's
    try:
        secrets = boto3.session.Session().client("secretsmanager")
        document = json.dumps({"username": "default", "password": SECRETS["redispassword"]})
        arn = secrets.create_secret(Name=f"dsn-{uuid.uuid4().hex}", SecretString=document)["ARN"]
    finally:
        logging.disable(logging.NOTSET)
    environ = {
        "ASGIWAY_APP": f"{__name__}:app",
        "ASGIWAY_LIFESPAN": "off",
        "ASGIWAY_WEBSOCKET_PATH": "/ws",
        "DSN_URL": f"redis://127.0.0.1:{redis_port}/0?key_prefix=sm_{uuid.uuid4().hex[:8]}:",
        "DSN_PASSWORD_SECRET_ARN": arn,
    }
    monkeypatch.setenv("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", connections_api.endpoint_url)
    handler = adapter_from_environment(environ)
    assert password_from_secret(arn) == SECRETS["redispassword"]
    assert connect(leaks, handler, "a=") == 200
    assert run(leaks, handler, message_event("a=", "broadcast")) == 200
    assert run(leaks, handler, disconnect_event("a=")) == 200
    handler.close()
    assert leaks.logged("Making request for OperationModel(name=GetSecretValue)")

    with leaks.raises(ConfigurationError):
        adapter_from_environment({**environ, "DSN_PASSWORD_SECRET_ARN": arn + "-missing"})
    with leaks.raises(ConfigurationError):  # a password in both places
        adapter_from_environment({**environ, "DSN_URL": f"redis://:{SECRETS['dsnpassword']}@127.0.0.1/0"})
    leaks.check()


def test_frames_handed_to_an_asynchronous_invocation_are_not_logged(
    tmp_path: Path,
    aws: str,
    connections_api: ConnectionsApiDouble,
    monkeypatch: pytest.MonkeyPatch,
    leaks: Leaks,
) -> None:
    """On Lambda, frames sent at CONNECT travel in an Invoke payload (here refused: no function)."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "asgiway-local")
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", aws)
    monkeypatch.setattr(deferred, "_client", None)  # a client of this test's endpoint
    handler = serve(f"sqlite://{tmp_path}/store.db", connections_api)
    assert connect(leaks, handler, "a=") == 200
    handler.close()
    assert leaks.logged("Making request for OperationModel(name=Invoke)")
    assert leaks.logged("Could not hand CONNECT frames to an asynchronous invocation")
    leaks.check()


MALFORMED: list[Callable[[], dict[str, Any]]] = [
    lambda: {**message_event("a=", None)},
    lambda: {**connect_event("a="), "headers": [f"Authorization: Bearer {BEARER}"]},
    lambda: {**connect_event("a="), "multiValueHeaders": {"Authorization": f"Bearer {BEARER}"}},
    lambda: {**connect_event("a="), "headers": {"Authorization": [f"Bearer {BEARER}"], "Cookie": 7}},
    lambda: {**connect_event("a="), "headers": {"Authorization": f"Bearer {BEARER}\u2603"}},
    lambda: {**message_event("a=", f"{BEARER}"), "isBase64Encoded": True},
    lambda: {**message_event("a=", "x"), "body": {"token": BEARER}},
    lambda: {**http_event("GET", "/me"), "headers": {"authorization": [f"Bearer {BEARER}"]}},
    lambda: {**http_event("GET", "/me"), "cookies": [f"session={COOKIE}", {"session": COOKIE}]},
    lambda: {**http_event("POST", "/me", body=f"{BEARER}!"), "isBase64Encoded": True},
    lambda: {**http_event("GET", "/me", headers=CLIENT_HEADERS), "rawQueryString": 5},
    lambda: {**http_event("GET", "/me", headers=CLIENT_HEADERS), "requestContext": f"Bearer {BEARER}"},
    lambda: {"headers": CLIENT_HEADERS, "body": f"token={BEARER}"},
    lambda: {"Authorization": f"Bearer {BEARER}"},
]


def test_malformed_events_leak_nothing(
    tmp_path: Path, connections_api: ConnectionsApiDouble, leaks: Leaks
) -> None:
    handler = serve(f"sqlite://{tmp_path}/store.db", connections_api)
    assert connect(leaks, handler, "a=") == 200
    for make in MALFORMED:
        run(leaks, handler, make())  # an answer, whatever it is, and never an exception
    handler.close()
    assert leaks.logged("Malformed") or leaks.logged("malformed")
    leaks.check()


def test_records_of_clients_asgiway_did_not_make_are_left_alone(aws: str, leaks: Leaks) -> None:
    """The app's own boto3 calls keep botocore's full DEBUG records; asgiway's keep their outline."""
    import boto3

    from asgiway.log_redaction import protect

    session = boto3.session.Session()
    # The app's client, with credentials of its own: what botocore logs of those is the app's affair.
    own = session.client(
        "s3",
        endpoint_url=aws,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="the-app's-own-token",
    )
    ours = protect(session.client("s3", endpoint_url=aws, region_name="us-east-1"))
    marker = uuid.uuid4().hex
    own.list_buckets(MaxBuckets=1, Prefix=f"own-{marker}")
    ours.list_buckets(MaxBuckets=1, Prefix=f"ours-{marker}")
    endpoint = [r.getMessage() for r in leaks.records if r.name == "botocore.endpoint"]
    own_records = [message for message in endpoint if f"own-{marker}" in message]
    our_records = [message for message in endpoint if f"ours-{marker}" in message]
    assert any("with params" in message for message in own_records)
    assert any("headers={" in message for message in own_records)
    assert our_records
    assert not any("with params" in m or "headers={" in m for m in our_records)
    assert any("ListBuckets" in message and "params not logged" in message for message in our_records)
    bodies = [r.getMessage() for r in leaks.records if r.msg == "Response body:\n%r"]
    assert any("ListAllMyBucketsResult" in body for body in bodies)  # the app's own
    redacted = [r.getMessage() for r in leaks.records if r.name == "botocore.parsers"]
    assert any(body.startswith("Response body: ") and "bytes (not logged" in body for body in redacted)
    leaks.check()
