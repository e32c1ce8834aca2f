"""`asgiway invoke`: one event through a handler, with a loopback `@connections` for WebSocket events.

A WebSocket event names the API it came from (`requestContext.domainName`), and the adapter posts
its frames there: a captured event from a deployed API would call AWS with whatever credentials
the shell has. So WebSocket events get `asgiway.testing.ConnectionsApiDouble` unless an endpoint
is given, and the frames it received are reported instead of reaching anyone.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from asgiway.management_api import LOCAL_ACCESS_KEY_ID_VARIABLE, LOCAL_SECRET_ACCESS_KEY_VARIABLE
from asgiway.testing import Call, ConnectionsApiDouble, connect_event, disconnect_event, http_event
from asgiway.testing import message_event as sample_message_event

#: The variable boto3 (and the adapter) read for @connections' endpoint.
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"
WEBSOCKET_EVENT_TYPES = frozenset({"CONNECT", "MESSAGE", "DISCONNECT"})
SAMPLE_KINDS = ("http", "connect", "message", "disconnect")


def is_websocket_event(event: Any) -> bool:
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    return isinstance(context, Mapping) and context.get("eventType") in WEBSOCKET_EVENT_TYPES


def sample_event(kind: str, connection_id: str, *, route_key: str, body: str) -> dict[str, Any]:
    """An event of `kind` to start from, shaped as API Gateway sends it (`asgiway invoke --event`)."""
    builders: dict[str, Callable[[], dict[str, Any]]] = {
        "http": lambda: http_event("GET", "/"),
        "connect": lambda: connect_event(connection_id, query={"name": ["ada"]}),
        "message": lambda: sample_message_event(connection_id, body, route_key=route_key),
        "disconnect": lambda: disconnect_event(connection_id, code=1001, reason="Going away"),
    }
    return builders[kind]()


@contextmanager
def connections_endpoint(endpoint_url: str | None) -> Iterator[ConnectionsApiDouble | None]:
    """@connections at `endpoint_url` when given, else at a loopback double, yielded to read its calls."""
    if endpoint_url is not None:
        with _environment({ENDPOINT_VARIABLE: endpoint_url}):
            yield None
        return
    loopback: dict[str, str | None] = {
        # The double checks no signature: throwaway keys keep the shell's own out of the posts.
        LOCAL_ACCESS_KEY_ID_VARIABLE: "asgiway-invoke",
        LOCAL_SECRET_ACCESS_KEY_VARIABLE: "asgiway-invoke",
        # Set, it sends CONNECT's frames through Lambda's Invoke API, to a function named in AWS.
        "AWS_LAMBDA_FUNCTION_NAME": None,
    }
    with ConnectionsApiDouble() as double, _environment({ENDPOINT_VARIABLE: double.endpoint_url, **loopback}):
        yield double


@contextmanager
def scratch_store(dsn: str | None) -> Iterator[str]:
    """`dsn`, or a sqlite store that lasts the one invocation: WebSocket events cannot run without one."""
    if dsn:
        yield dsn
        return
    with tempfile.TemporaryDirectory(prefix="asgiway-invoke-") as folder:
        yield f"sqlite://{Path(folder) / 'connections.db'}"


def describe_call(call: Call) -> str:
    """One line per call the app made, e.g. `@connections POST abc=: {"text": "hi"}`."""
    line = f"@connections {call.method} {call.connection_id}"
    if call.method == "POST":
        return f"{line}: {call.data.decode('utf-8', 'backslashreplace')}"
    return line


@contextmanager
def _environment(variables: Mapping[str, str | None]) -> Iterator[None]:
    """Set `variables` (None removes one) for the block, then put back what was there."""
    previous = {name: os.environ.get(name) for name in variables}
    try:
        for name, value in variables.items():
            _set(name, value)
        yield
    finally:
        for name, value in previous.items():
            _set(name, value)


def _set(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
