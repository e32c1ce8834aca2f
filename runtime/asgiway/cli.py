"""The `asgiway` command: `asgiway dev` serves a function locally, `asgiway invoke` runs one event."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn

from asgiway.exceptions import ConfigurationError
from asgiway.local.invoke import SAMPLE_KINDS
from asgiway.local.routes import DEFAULT_SELECTION_EXPRESSION

TARGET_HELP = "an ASGI app (wrapped in an Adapter) or a Lambda handler, as 'module:attribute'"
WEBSOCKET_PATH_HELP = "the app's WebSocket route (default: its only WebSocket route, else /)"
APP_DIR_HELP = "folder to import TARGET from (default: the current one)"
DEV_EXAMPLE = """\
example, with the routes and the authorizer of a deployed WebSocketAsgiApp(routes=["sendmessage"],
connect_authorizer=WebSocketLambdaAuthorizer(..., identity_source=["route.request.querystring.token"])):

  asgiway dev examples.chat.app:app --route sendmessage \\
      --authorizer myauth:handler --authorizer-identity-source route.request.querystring.token

  {"action": "sendmessage", "data": "hi"} then reaches the app on route sendmessage
  (scope["asgiway.route"]), anything else on $default; myauth.handler(event, context) runs at
  every handshake, and a handshake without ?token= is refused with 401 before it is called.
"""

INVOKE_EXAMPLE = """\
example, a client joining the chat, then speaking (one store for both, so the MESSAGE's connection
is known):

  asgiway invoke --event connect --connection-id abc= > connect.json
  asgiway invoke --event message --connection-id abc= --route sendmessage \\
      --body '{"action": "sendmessage", "data": "hi"}' > message.json
  asgiway invoke examples.chat.app:app connect.json --dsn sqlite:///tmp/chat.db
  asgiway invoke examples.chat.app:app message.json --dsn sqlite:///tmp/chat.db
"""


class OneLineErrors(argparse.ArgumentParser):
    """argparse, but a mistake on the command line is one line (and exit 2), not the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def port_number(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0 to 65535, got {text}")
    return value


def target_name(text: str) -> str:
    """'module:attribute', refusing a file path (`app.py:app`) with the module name it meant."""
    module, sep, attribute = text.partition(":")
    if module.endswith(".py") or "/" in module or "\\" in module:
        dotted = module.removesuffix(".py").removeprefix("./").replace("\\", "/").strip("/").replace("/", ".")
        raise argparse.ArgumentTypeError(
            f"{text!r} is a file path; name the module instead: '{dotted}{sep}{attribute or 'app'}'"
        )
    return text


def installed_version() -> str:
    try:
        return version("asgiway")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(prog="asgiway", description=__doc__)
    parser.add_argument("--version", action="version", version=f"asgiway {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser(
        "dev",
        help="play API Gateway and Lambda on localhost",
        description="Serve TARGET as API Gateway and Lambda would: WebSocket and HTTP APIs, "
        "@connections and one-event-at-a-time handler instances, on one local port.",
        epilog=DEV_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dev.add_argument("target", type=target_name, help=TARGET_HELP)
    dev.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    dev.add_argument(
        "--port", type=port_number, default=8000, help="port; 0 picks a free one (default: %(default)s)"
    )
    dev.add_argument("--stage", default="dev", help="the WebSocket API's stage (default: %(default)s)")
    dev.add_argument("--dsn", help="connection store (default: sqlite in a temporary folder)")
    dev.add_argument("--websocket-path", help=WEBSOCKET_PATH_HELP)
    dev.add_argument("--concurrency", type=at_least_one, default=10, help="most instances (default: 10)")
    dev.add_argument("--timeout", type=positive, default=29.0, help="seconds per event (default: 29)")
    dev.add_argument("--idle-timeout", type=positive, default=600.0, help="seconds idle (default: 600)")
    dev.add_argument("--max-duration", type=positive, default=7200.0, help="seconds open (default: 7200)")
    dev.add_argument("--allow-binary", action="store_true", help="pass binary frames on (AWS closes: 1003)")
    dev.add_argument("--two-way-replies", action="store_true", help="send a MESSAGE result's body back")
    dev.add_argument("--app-dir", default=".", help=APP_DIR_HELP)
    routing = dev.add_argument_group("routes", "how each client message picks its route, as API Gateway does")
    routing.add_argument(
        "--route-selection-expression",
        default=DEFAULT_SELECTION_EXPRESSION,
        metavar="EXPR",
        help="$request.body.PATH, dotted paths included (default: %(default)s)",
    )
    routing.add_argument(
        "--route", action="append", default=[], metavar="KEY", help="a custom route key; repeat for more"
    )
    routing.add_argument(
        "--no-default-route",
        action="store_true",
        help="no $default route: a message no route takes gets API Gateway's Forbidden frame",
    )
    authorizing = dev.add_argument_group(
        "$connect authorizer", "a Lambda REQUEST authorizer, run by the instances"
    )
    authorizing.add_argument("--authorizer", metavar="MODULE:FUNCTION", help="the authorizer function")
    authorizing.add_argument(
        "--authorizer-identity-source",
        action="append",
        default=[],
        metavar="SOURCE",
        help="route.request.header.NAME or route.request.querystring.NAME a handshake must carry "
        "(else 401, the authorizer not called); repeat, or separate with commas",
    )

    invoke = commands.add_parser(
        "invoke",
        help="run one event through a handler",
        description="Print the handler's response as JSON. A WebSocket event's posts go to a loopback "
        "@connections, and each is printed on standard error; --endpoint-url sends them on instead.",
        epilog=INVOKE_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    invoke.add_argument("target", nargs="?", type=target_name, help=TARGET_HELP)
    invoke.add_argument("event", nargs="?", help="a JSON event file, or - for standard input")
    invoke.add_argument(
        "--event",
        dest="sample",
        choices=SAMPLE_KINDS,
        help="print a sample event of this kind to start from, and invoke nothing (no TARGET)",
    )
    invoke.add_argument(
        "--endpoint-url",
        help="the @connections endpoint a WebSocket event's posts go to, e.g. "
        "https://{api}.execute-api.{region}.amazonaws.com/{stage} (default: a loopback double)",
    )
    invoke.add_argument(
        "--route",
        metavar="KEY",
        help="instead of EVENT, a WebSocket MESSAGE event on route KEY (e.g. sendmessage or $default)",
    )
    invoke.add_argument(
        "--body", help='the MESSAGE\'s body (default: {"action": KEY}); with --route or --event message'
    )
    invoke.add_argument(
        "--connection-id",
        help="the MESSAGE's connection, one the store knows (default: a new id, which the adapter "
        "answers 410 Gone, as for a connection that has left)",
    )
    invoke.add_argument(
        "--dsn",
        default=os.environ.get("DSN_URL"),
        help="connection store (default: DSN_URL, else sqlite for this one event)",
    )
    invoke.add_argument("--websocket-path", help=WEBSOCKET_PATH_HELP)
    invoke.add_argument("--timeout", type=positive, default=29.0, help="seconds the context allows")
    invoke.add_argument("--app-dir", default=".", help=APP_DIR_HELP)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    # As uvicorn does: the app is found relative to where the command runs, not where asgiway is.
    sys.path.insert(0, str(Path(arguments.app_dir).resolve()))
    try:
        return _dev(arguments) if arguments.command == "dev" else _invoke(arguments)
    except ConfigurationError as exc:
        print(f"asgiway {arguments.command}: {exc}", file=sys.stderr)
        return 2


def _dev(arguments: argparse.Namespace) -> int:
    from asgiway.local.authorizer import AuthorizerSettings, IdentitySource
    from asgiway.local.routes import RouteTable
    from asgiway.local.server import DevOptions, run
    from asgiway.local.websocket_session import WebSocketSettings

    try:
        routes = RouteTable(
            selection_expression=arguments.route_selection_expression,
            keys=frozenset(arguments.route),
            has_default=not arguments.no_default_route,
        )
        sources = tuple(
            IdentitySource.parse(text)
            for given in arguments.authorizer_identity_source
            for text in given.split(",")
            if text.strip()
        )
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    if sources and not arguments.authorizer:
        raise ConfigurationError("--authorizer-identity-source needs --authorizer")
    authorizer = AuthorizerSettings(arguments.authorizer, sources) if arguments.authorizer else None

    options = DevOptions(
        target=arguments.target,
        host=arguments.host,
        port=arguments.port,
        stage=arguments.stage,
        dsn=arguments.dsn,
        websocket_path=arguments.websocket_path,
        concurrency=arguments.concurrency,
        timeout=arguments.timeout,
        websocket=WebSocketSettings(
            idle_timeout=arguments.idle_timeout,
            max_duration=arguments.max_duration,
            allow_binary=arguments.allow_binary,
            two_way_replies=arguments.two_way_replies,
            routes=routes,
            authorizer=authorizer,
        ),
    )
    return run(options)


def _invoke(arguments: argparse.Namespace) -> int:
    from asgiway.deferred import wait_for_delivery
    from asgiway.local.context import LocalContext
    from asgiway.local.invoke import connections_endpoint, describe_call, is_websocket_event, scratch_store
    from asgiway.local.loader import AppOptions, load_handler
    from asgiway.local.worker import invoke_once

    if arguments.sample:
        return _print_sample(arguments)
    if arguments.target is None:
        raise ConfigurationError("give a TARGET to invoke, or --event KIND for a sample event")
    event = _message_event(arguments) if arguments.route else _read_event(arguments.event)
    if not is_websocket_event(event):
        handler, _ = load_handler(arguments.target, AppOptions(arguments.dsn, arguments.websocket_path))
        succeeded, outcome = invoke_once(handler, event, LocalContext(timeout_seconds=arguments.timeout))
        print(json.dumps(outcome, indent=2))
        return 0 if succeeded else 1
    with scratch_store(arguments.dsn) as dsn, connections_endpoint(arguments.endpoint_url) as double:
        handler, _ = load_handler(arguments.target, AppOptions(dsn, arguments.websocket_path))
        succeeded, outcome = invoke_once(handler, event, LocalContext(timeout_seconds=arguments.timeout))
        # A CONNECT's own frames are posted by a thread once the handshake is through.
        wait_for_delivery(event["requestContext"].get("connectionId", ""))
        # The response is standard output (for jq and files); what the app sent is its log.
        for call in double.calls if double else ():
            print(describe_call(call), file=sys.stderr)
        print(json.dumps(outcome, indent=2))
        close = getattr(handler, "close", None)
        if callable(close):  # the store is about to go with its folder
            close()
    return 0 if succeeded else 1


def _print_sample(arguments: argparse.Namespace) -> int:
    from asgiway.local.events import new_id
    from asgiway.local.invoke import sample_event

    if arguments.target is not None:
        raise ConfigurationError("--event prints a sample event and invokes nothing: leave TARGET out")
    route = arguments.route or "$default"
    routed_body = json.dumps({"action": arguments.route}) if arguments.route else "hello"
    body = arguments.body if arguments.body is not None else routed_body
    event = sample_event(arguments.sample, arguments.connection_id or new_id(), route_key=route, body=body)
    print(json.dumps(event, indent=2))
    return 0


def _read_event(name: str | None) -> Any:
    if name is None:
        raise ConfigurationError("give an EVENT file (or - for standard input), or --route KEY")
    try:
        source = sys.stdin.read() if name == "-" else Path(name).read_text()
        return json.loads(source)
    except OSError as exc:
        raise ConfigurationError(f"Cannot read {name}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigurationError(f"{name} is not JSON: {exc}") from None


def _message_event(arguments: argparse.Namespace) -> dict[str, Any]:
    """A MESSAGE event on route `--route`, as `asgiway dev` would send it for a client on localhost."""
    from asgiway.local.events import Client, Stage, message_event, new_id, now_ms

    if arguments.event is not None:
        raise ConfigurationError("give either an EVENT file or --route, not both")
    body = arguments.body if arguments.body is not None else json.dumps({"action": arguments.route})
    client = Client(
        connection_id=arguments.connection_id or new_id(), source_ip="127.0.0.1", connected_at=now_ms()
    )
    return message_event(Stage("dev", "localhost"), client, body, route_key=arguments.route)


if __name__ == "__main__":
    sys.exit(main())
