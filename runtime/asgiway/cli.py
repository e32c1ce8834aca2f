"""The `asgiway` command: `asgiway dev` serves a function locally, `asgiway invoke` runs one event."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from asgiway.exceptions import ConfigurationError

TARGET_HELP = "an ASGI app (wrapped in an Adapter) or a Lambda handler, as 'module:attribute'"
WEBSOCKET_PATH_HELP = "the app's WebSocket route (default: its only WebSocket route, else /)"
APP_DIR_HELP = "folder to import TARGET from (default: the current one)"


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

    invoke = commands.add_parser(
        "invoke", help="run one event through a handler", description="Print the handler's response as JSON."
    )
    invoke.add_argument("target", help=TARGET_HELP)
    invoke.add_argument("event", help="a JSON event file, or - for standard input")
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
    from asgiway.local.server import DevOptions, run
    from asgiway.local.websocket_session import WebSocketSettings

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
        ),
    )
    return run(options)


def _invoke(arguments: argparse.Namespace) -> int:
    from asgiway.local.context import LocalContext
    from asgiway.local.loader import AppOptions, load_handler
    from asgiway.local.worker import invoke_once

    try:
        source = sys.stdin.read() if arguments.event == "-" else Path(arguments.event).read_text()
        event = json.loads(source)
    except OSError as exc:
        raise ConfigurationError(f"Cannot read {arguments.event}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigurationError(f"{arguments.event} is not JSON: {exc}") from None
    handler, _ = load_handler(arguments.target, AppOptions(arguments.dsn, arguments.websocket_path))
    succeeded, outcome = invoke_once(handler, event, LocalContext(timeout_seconds=arguments.timeout))
    print(json.dumps(outcome, indent=2))
    return 0 if succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
