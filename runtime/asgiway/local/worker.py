"""One handler instance: a process that imports the handler once and serves one event at a time.

This is what a Lambda execution environment is to a function: module-level state survives from one
event to the next, a crash or a timeout ends the instance, and events cross the boundary as JSON
(so a handler that returns something JSON cannot carry fails here as it would on Lambda).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from asgiway.exceptions import ConfigurationError
from asgiway.importer import import_from_string
from asgiway.local.context import LocalContext
from asgiway.local.loader import AppOptions, Handler, load_handler


@dataclass(frozen=True)
class FunctionSpec:
    """Everything an instance needs to become the function: its code, settings and environment."""

    target: str
    app_options: AppOptions
    name: str
    arn: str
    timeout_seconds: float
    memory_mb: int = 1024
    #: Variables to set; an empty value removes the variable.
    environment: dict[str, str] = field(default_factory=dict)
    #: A `$connect` Lambda authorizer, "module:function", run by the same instances (`--authorizer`).
    authorizer: str | None = None


#: What a request to an instance names when it is for the authorizer rather than the handler.
AUTHORIZER = "authorizer"


def error_payload(exc: BaseException) -> dict[str, Any]:
    """Lambda's shape for an unhandled error."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def invoke_once(handler: Handler, event: Any, context: LocalContext) -> tuple[bool, Any]:
    """(True, the result) or (False, Lambda's error shape); a result must be JSON, as Lambda returns it."""
    try:
        result = handler(event, context)
    except Exception as exc:
        traceback.print_exc()
        return False, error_payload(exc)
    try:
        json.dumps(result)
    except (TypeError, ValueError) as exc:
        return False, {
            "errorMessage": f"Unable to marshal response: {exc}",
            "errorType": "Runtime.MarshalError",
        }
    return True, result


def serve(connection: Connection, spec: FunctionSpec) -> None:
    """The instance's main: import the handler, say "ready", then answer events until the pipe closes."""
    # Ctrl+C in the terminal reaches the whole process group; the emulator stops its instances itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name, value in spec.environment.items():
        if value:
            os.environ[name] = value
        else:
            os.environ.pop(name, None)
    logging.basicConfig(level=logging.WARNING, format="[%(levelname)s] %(name)s: %(message)s")
    try:
        handler, description = load_handler(spec.target, spec.app_options)
        authorizer = _load_authorizer(spec.authorizer) if spec.authorizer else None
    except BaseException as exc:
        if not isinstance(exc, ConfigurationError):  # a setting to fix: its one line says it all
            traceback.print_exc()
        connection.send_bytes(json.dumps(["failed", error_payload(exc)]).encode())
        return
    connection.send_bytes(json.dumps(["ready", description]).encode())
    while True:
        try:
            request = json.loads(connection.recv_bytes())
        except EOFError:
            _shut_down(handler)
            return
        context = LocalContext(
            timeout_seconds=spec.timeout_seconds,
            function_name=spec.name,
            invoked_function_arn=spec.arn,
            memory_limit_in_mb=spec.memory_mb,
            aws_request_id=request["request_id"],
        )
        function = authorizer if request.get("function") == AUTHORIZER and authorizer else handler
        succeeded, outcome = invoke_once(function, request["event"], context)
        connection.send_bytes(json.dumps(["ok" if succeeded else "error", outcome]).encode())


def _load_authorizer(target: str) -> Handler:
    found = import_from_string(target)
    if not callable(found):
        raise ConfigurationError(f"--authorizer {target!r} names a {type(found).__name__}, not a function")
    return found  # type: ignore[no-any-return]


def _shut_down(handler: Handler) -> None:
    """The emulator is stopping: an Adapter runs the app's lifespan shutdown and closes its store,
    as a Lambda execution environment's end would (its SIGTERM, where an extension asks for one)."""
    close = getattr(handler, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            traceback.print_exc()
