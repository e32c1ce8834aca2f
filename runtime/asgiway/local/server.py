"""`asgiway dev`: bind the port, start the function's first instance, serve until interrupted.

The function's instances get the environment a deployed function has: `DSN_URL`, `WEBSOCKET_URL`,
Lambda's own variables, and boto3's endpoint variables pointing `@connections` and Lambda's
Invoke API at this server, so the adapter finds them with no code change. Those two endpoints
accept only requests signed with a key pair made for the run: the instances get it as
`ASGIWAY_LOCAL_ACCESS_KEY_ID` and `ASGIWAY_LOCAL_SECRET_ACCESS_KEY`, and the developer's own
scripts find it in the credentials file the banner names (profile `asgiway-dev`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from asgiway.backends.dsn import Dsn
from asgiway.exceptions import ConfigurationError
from asgiway.local.access import EndpointGuard, is_loopback
from asgiway.local.context import function_arn
from asgiway.local.events import Stage
from asgiway.local.frame_limits import GatewayWebSocketProtocol
from asgiway.local.gateway import Gateway
from asgiway.local.instances import HandlerLoadError, InstancePool
from asgiway.local.loader import AppOptions
from asgiway.local.log import EventLog
from asgiway.local.sigv4 import RunCredentials
from asgiway.local.websocket_session import WebSocketSettings
from asgiway.local.worker import FunctionSpec
from asgiway.management_api import (
    LOCAL_ACCESS_KEY_ID_VARIABLE,
    LOCAL_SECRET_ACCESS_KEY_VARIABLE,
    environment_region,
)

FUNCTION_NAME = "asgiway-dev"
#: The profile of the run's credentials in its credentials file.
CREDENTIALS_PROFILE = "asgiway-dev"


@dataclass(frozen=True)
class DevOptions:
    target: str
    host: str = "127.0.0.1"
    port: int = 8000
    stage: str = "dev"
    dsn: str | None = None
    websocket_path: str | None = None
    concurrency: int = 10
    timeout: float = 29.0
    websocket: WebSocketSettings = field(default_factory=WebSocketSettings)


def public_host(host: str) -> str:
    """The host a local client should use: a wildcard bind is reached through loopback."""
    return {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(host, host)  # noqa: S104


def function_environment(
    options: DevOptions, origin: str, dsn: str, credentials: RunCredentials
) -> dict[str, str]:
    """What a deployed function's environment holds, pointed at this server."""
    region = environment_region()
    environment = {
        LOCAL_ACCESS_KEY_ID_VARIABLE: credentials.access_key_id,
        LOCAL_SECRET_ACCESS_KEY_VARIABLE: credentials.secret_access_key,
        "DSN_URL": dsn,
        "WEBSOCKET_URL": f"{origin.replace('http', 'ws', 1)}/{options.stage}",
        "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": f"{origin}/{options.stage}",
        "AWS_ENDPOINT_URL_LAMBDA": origin,
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", region),
    }
    if options.websocket_path:
        environment["ASGIWAY_WEBSOCKET_PATH"] = options.websocket_path
    if not _talks_to_aws(dsn):
        # boto3 signs every call, and a local store (moto, DynamoDB Local) accepts any signature:
        # placeholder keys spare a developer's own (or missing) credentials. @connections and
        # Invoke use the run's key pair instead, whatever these say.
        environment.update(AWS_ACCESS_KEY_ID="asgiway-dev", AWS_SECRET_ACCESS_KEY="asgiway-dev")  # noqa: S106
        environment.update(AWS_SESSION_TOKEN="", AWS_PROFILE="")  # removed: they would override the keys
    return environment


def _talks_to_aws(dsn: str) -> bool:
    """Whether the store is a real DynamoDB table or S3 bucket, which needs the developer's credentials."""
    parsed = Dsn.parse(dsn)
    return parsed.scheme in ("dynamodb", "s3") and parsed.endpoint_url is None


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Naming IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it every response waits ~40 ms for a delayed ACK (Nagle's algorithm).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"Cannot listen on {host}:{port}: {exc.strerror}; try --port") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def write_credentials(folder: Path, credentials: RunCredentials) -> Path:
    """The run's key pair as an AWS shared credentials file only this user can read."""
    path = folder / "credentials"
    text = (
        f"[{CREDENTIALS_PROFILE}]\n"
        f"aws_access_key_id = {credentials.access_key_id}\n"
        f"aws_secret_access_key = {credentials.secret_access_key}\n"
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    return path


def run(options: DevOptions) -> int:
    """Serve until interrupted; 1 when the handler's code fails to import, ConfigurationError for a
    setting to fix (a module or attribute that is not there, a dsn no backend takes, a port in use)."""
    if options.dsn:
        Dsn.parse(options.dsn)  # a bad dsn is a clear error now, not at the first WebSocket event
    # uvicorn stops gracefully on SIGINT or SIGTERM, then raises the signal again for its caller:
    # turned into KeyboardInterrupt, both end here, after the cleanup below.
    signal.signal(signal.SIGTERM, _interrupt)
    with tempfile.TemporaryDirectory(prefix="asgiway-dev-") as scratch:
        dsn = options.dsn or f"sqlite://{Path(scratch) / 'connections.db'}"
        # The scratch folder is the user's alone (mkdtemp makes it 0700), and goes with the run.
        credentials = RunCredentials.generate()
        credentials_file = write_credentials(Path(scratch), credentials)
        try:
            return asyncio.run(_serve(options, dsn, credentials, credentials_file))
        except KeyboardInterrupt:
            return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


#: What stops the emulator: Ctrl+C and a service manager's stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _already_stopping(signum: int, frame: FrameType | None) -> None:
    """A stop signal once uvicorn has served one: the stop under way is bounded (SHUTDOWN_SECONDS)."""


async def _serve(options: DevOptions, dsn: str, credentials: RunCredentials, credentials_file: Path) -> int:
    import uvicorn

    log = EventLog()
    _show_warnings(log)
    sock = bind(options.host, options.port)
    port = sock.getsockname()[1]
    host = public_host(options.host)
    origin = f"http://{host}:{port}"
    environment = function_environment(options, origin, dsn, credentials)
    app_options = AppOptions(
        dsn=dsn, websocket_path=options.websocket_path, two_way_replies=options.websocket.two_way_replies
    )
    spec = FunctionSpec(
        target=options.target,
        app_options=app_options,
        name=FUNCTION_NAME,
        arn=function_arn(FUNCTION_NAME, environment["AWS_REGION"]),
        timeout_seconds=options.timeout,
        environment=environment,
        authorizer=options.websocket.authorizer.target if options.websocket.authorizer else None,
    )
    pool = InstancePool(spec, options.concurrency)
    try:
        description = await pool.warm()
    except HandlerLoadError as exc:
        sock.close()
        if exc.setting is not None:  # the command line names something to fix: exit 2, one line
            raise ConfigurationError(f"cannot load {options.target}: {exc.setting}") from None
        print(f"asgiway dev: cannot load {options.target}: {exc}", file=sys.stderr)
        return 1
    gateway = Gateway(
        stage=Stage(options.stage, f"{host}:{port}"),
        pool=pool,
        log=log,
        guard=EndpointGuard(credentials, options.host),
        websocket=options.websocket,
    )
    config = uvicorn.Config(
        gateway,
        # uvicorn's websockets-sansio protocol, closing frames over 32 KB and messages over 128 KB as
        # API Gateway does.
        ws=GatewayWebSocketProtocol,
        ws_ping_interval=None,
        lifespan="off",
        log_level="warning",
        access_log=False,
        server_header=False,
    )
    server = uvicorn.Server(config)
    logging.getLogger("uvicorn.error").addFilter(_after_denial)
    _banner(log, options, description, environment, credentials_file)
    # uvicorn serves SIGINT and SIGTERM by stopping, then raises the signal again for its caller.
    # Raised here, it would cancel the cleanup below midway (an instance killed before its lifespan
    # shutdown): the signal has been served, so it is let go until the instances have stopped.
    previous = {number: signal.signal(number, _already_stopping) for number in STOP_SIGNALS}
    try:
        # uvicorn's shutdown closes every client (1012), and waits for their DISCONNECTs to run.
        await server.serve(sockets=[sock])
    finally:
        try:
            await gateway.close()
        finally:
            await pool.shut_down()
            for number, handler in previous.items():
                signal.signal(number, handler)
    return 0


def _after_denial(record: logging.LogRecord) -> bool:
    """Drop uvicorn's complaint after a refused handshake (`websocket.http.response`).

    uvicorn 0.54's websockets-sansio protocol never marks such a handshake complete, so it logs
    "returned without completing handshake" for every refusal this server makes on purpose.
    """
    return "without completing handshake" not in record.getMessage()


def _show_warnings(log: EventLog) -> None:
    """The emulator's own warnings (refused requests), printed where its event log goes."""
    handler = logging.StreamHandler(log.stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logging.getLogger("asgiway.local").addHandler(handler)


def _banner(
    log: EventLog, options: DevOptions, description: str, environment: dict[str, str], credentials_file: Path
) -> None:
    origin = environment["AWS_ENDPOINT_URL_LAMBDA"]
    log.write(f"asgiway dev: {description}")
    log.write(f"  HTTP API        {origin}/")
    log.write(f"  WebSocket API   {environment['WEBSOCKET_URL']}")
    routes = options.websocket.routes
    keys = [*sorted(routes.keys), *(["$default"] if routes.has_default else [])]
    log.write(f"  routes          {', '.join(keys) or 'none'} (by {routes.selection_expression})")
    authorizer = options.websocket.authorizer
    if authorizer is not None:
        sources = ", ".join(str(source) for source in authorizer.identity_sources) or "no identity source"
        log.write(f"  authorizer      {authorizer.target} at $connect ({sources}; not cached)")
    log.write(
        f"  @connections    {environment['AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI']}/@connections/{{id}}"
    )
    log.write(f"  store           {Dsn.parse(environment['DSN_URL']).redacted}")
    log.write(f"  credentials     {credentials_file} (profile {CREDENTIALS_PROFILE}: @connections, Invoke)")
    log.write(f"  instances       up to {options.concurrency}, timeout {options.timeout:g} s; Ctrl+C stops")
    if not is_loopback(options.host):
        log.write(
            f"  WARNING         listening on {options.host}: other machines can reach the HTTP and "
            "WebSocket APIs; these endpoints are for local development only"
        )
