"""The `asgiway` command: `asgiway dev` serves a function locally, `asgiway invoke` runs one event."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asgiway.exceptions import ConfigurationError
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
    parser = argparse.ArgumentParser(prog="asgiway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser(
        "dev",
        help="play API Gateway and Lambda on localhost",
        description="Serve TARGET as API Gateway and Lambda would: WebSocket and HTTP APIs, "
        "@connections and one-event-at-a-time handler instances, on one local port.",
        epilog=DEV_EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dev.add_argument("target", help=TARGET_HELP)
    dev.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    dev.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (default: %(default)s)")
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
        "invoke", help="run one event through a handler", description="Print the handler's response as JSON."
    )
    invoke.add_argument("target", help=TARGET_HELP)
    invoke.add_argument("event", nargs="?", help="a JSON event file, or - for standard input")
    invoke.add_argument(
        "--route",
        metavar="KEY",
        help="instead of EVENT, a WebSocket MESSAGE event on route KEY (e.g. sendmessage or $default)",
    )
    invoke.add_argument("--body", help='the MESSAGE\'s body (default: {"action": KEY}); with --route')
    invoke.add_argument(
        "--connection-id",
        help="the MESSAGE's connection, one the store knows (default: a new id, which the adapter "
        "answers 410 Gone, as for a connection that has left)",
    )
    invoke.add_argument(
        "--dsn", default=os.environ.get("DSN_URL"), help="connection store (default: DSN_URL)"
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
    from asgiway.local.context import LocalContext
    from asgiway.local.loader import AppOptions, load_handler
    from asgiway.local.worker import invoke_once

    event = _message_event(arguments) if arguments.route else _read_event(arguments.event)
    handler, _ = load_handler(arguments.target, AppOptions(arguments.dsn, arguments.websocket_path))
    succeeded, outcome = invoke_once(handler, event, LocalContext(timeout_seconds=arguments.timeout))
    print(json.dumps(outcome, indent=2))
    return 0 if succeeded else 1


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
