"""The recorded events of tests/fixtures/events, reshaped for the guides' snippets.

The WebSocket fixtures are one client's CONNECT, MESSAGE and DISCONNECT; a guide about rooms needs
several clients, so each builder can give its event another connection id, a query string or a
body. Everything else stays as recorded.
"""

from __future__ import annotations

from typing import Any

from tests.fixtures import load_event

#: The recorded client's id, shared by its CONNECT, MESSAGE and DISCONNECT.
RECORDED_ID: str = load_event("websocket-connect.json")["requestContext"]["connectionId"]


def _as(connection_id: str, event: dict[str, Any]) -> dict[str, Any]:
    event["requestContext"]["connectionId"] = connection_id
    return event


def connect(connection_id: str = RECORDED_ID, **query: str) -> dict[str, Any]:
    """A CONNECT whose handshake URL carried `query` (`?room=lobby`)."""
    event = _as(connection_id, load_event("websocket-connect.json"))
    if query:
        event["queryStringParameters"] = dict(query)
        event["multiValueQueryStringParameters"] = {name: [value] for name, value in query.items()}
    return event


def message(body: str, connection_id: str = RECORDED_ID, *, default_route: bool = False) -> dict[str, Any]:
    """A MESSAGE on the recorded custom route ("say"), or on `$default` (the one with a route
    response, for two-way replies)."""
    fixture = "websocket-message-default-route.json" if default_route else "websocket-message.json"
    event = _as(connection_id, load_event(fixture))
    event["body"] = body
    return event


def disconnect(connection_id: str = RECORDED_ID, *, going_away: bool = False) -> dict[str, Any]:
    """A DISCONNECT: a close that carried no code (1005), or 1001 "going away" (a closed tab)."""
    fixture = "websocket-disconnect-going-away.json" if going_away else "websocket-disconnect.json"
    return _as(connection_id, load_event(fixture))


def http_get(path: str, query: str = "") -> dict[str, Any]:
    """The recorded HTTP API (payload 2.0) request, made a GET of `path` with no body."""
    event = load_event("api-gateway-http-payload-2.0.json")
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = "GET"
    event["rawQueryString"] = query
    for recorded in ("body", "pathParameters", "queryStringParameters"):
        event.pop(recorded, None)
    return event
