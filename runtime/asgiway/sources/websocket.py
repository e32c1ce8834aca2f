"""API Gateway WebSocket events: CONNECT, MESSAGE and DISCONNECT.

Only CONNECT carries the request (headers, query string, source IP, authorizer context); MESSAGE
carries a body and the connection id; DISCONNECT a close code and reason. So the scope is built
once, at CONNECT, in a JSON-safe form the store can keep, and rebuilt from it at every event.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from asgiway.exceptions import MalformedEventError
from asgiway.management_api import environment_region
from asgiway.sources import EVENT_SCOPE_KEY
from asgiway.sources.common import (
    decoded_base64_body,
    header_value,
    headers_from,
    query_string_from,
    server_from,
)
from asgiway.types import AdapterConfig, LambdaContext, LambdaEvent, Message, Scope

#: ASGI's `websocket.disconnect` code when API Gateway does not say why (1005: no status received).
NO_STATUS_CODE = 1005
#: The scope key holding the event's route key (`requestContext.routeKey`): "$connect", "$default",
#: "$disconnect" or a custom route's, e.g. "sendmessage", for apps that dispatch on API Gateway's routes.
ROUTE_SCOPE_KEY = "asgiway.route"


class EventType(StrEnum):
    CONNECT = "CONNECT"
    MESSAGE = "MESSAGE"
    DISCONNECT = "DISCONNECT"


def _text(context: dict[str, Any], key: str) -> str:
    value = context.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEventError(f"requestContext.{key} must be a non-empty string, got {value!r}")
    return value


@dataclass(frozen=True)
class WebSocketEvent:
    """One API Gateway WebSocket event, validated: what every later step may rely on."""

    type: EventType
    connection_id: str
    domain_name: str
    stage: str
    api_id: str
    #: `requestContext.routeKey`: "$connect", "$default", "$disconnect" or a custom route's key.
    route_key: str
    event: LambdaEvent

    @classmethod
    def parse(cls, event: LambdaEvent) -> WebSocketEvent:
        """Validate the fields every later step relies on; raise MalformedEventError otherwise."""
        context = event["requestContext"]
        for key in (
            "headers",
            "multiValueHeaders",
            "queryStringParameters",
            "multiValueQueryStringParameters",
        ):
            if not isinstance(event.get(key) or {}, dict):
                raise MalformedEventError(f"{key} must be an object, got {type(event[key]).__name__}")
        if not isinstance(context.get("identity") or {}, dict):
            raise MalformedEventError("requestContext.identity must be an object")
        return cls(
            type=EventType(context["eventType"]),
            connection_id=_text(context, "connectionId"),
            domain_name=_text(context, "domainName"),
            stage=_text(context, "stage"),
            api_id=str(context.get("apiId") or ""),
            route_key=str(context.get("routeKey") or ""),
            event=event,
        )

    @property
    def endpoint_url(self) -> str:
        """The @connections endpoint API Gateway serves for this API and stage.

        A custom domain cannot serve @connections, so events that arrive through one are
        answered through the API's own execute-api domain in the function's region.
        """
        if self.domain_name.endswith(".amazonaws.com") or not self.api_id:
            return f"https://{self.domain_name}/{self.stage}"
        return f"https://{self.api_id}.execute-api.{environment_region()}.amazonaws.com/{self.stage}"

    def received(self) -> Message:
        """The `websocket.receive` message of a MESSAGE event.

        A missing body is an empty text frame; a base64-encoded one is a binary frame.
        """
        body = self.event.get("body")
        if body is None:
            return {"type": "websocket.receive", "text": ""}
        if not isinstance(body, str):
            raise MalformedEventError(f"body must be a string, got {type(body).__name__}")
        if self.event.get("isBase64Encoded"):
            return {"type": "websocket.receive", "bytes": decoded_base64_body(body)}
        return {"type": "websocket.receive", "text": body}

    def disconnected(self) -> Message:
        """The `websocket.disconnect` message of a DISCONNECT event, with the real close code."""
        context = self.event["requestContext"]
        code = context.get("disconnectStatusCode")
        reason = context.get("disconnectReason")
        return {
            "type": "websocket.disconnect",
            "code": code if isinstance(code, int) and not isinstance(code, bool) else NO_STATUS_CODE,
            "reason": reason if isinstance(reason, str) else "",
        }

    def connect_scope(self, config: AdapterConfig) -> dict[str, Any]:
        """The JSON-safe part of the scope, built from the CONNECT request, for the store to keep."""
        headers = headers_from(self.event)
        protocols = header_value(headers, b"sec-websocket-protocol") or ""
        source_ip = (self.event["requestContext"].get("identity") or {}).get("sourceIp")
        stored: dict[str, Any] = {
            "path": config.websocket_path,
            "query_string": query_string_from(self.event).decode("ascii"),
            "headers": [[name.decode("latin-1"), value.decode("latin-1")] for name, value in headers],
            "server": list(server_from(headers, 443)),
            "client": [source_ip, 0] if isinstance(source_ip, str) and source_ip else None,
            "subprotocols": [p.strip() for p in protocols.split(",") if p.strip()],
        }
        authorizer = self.event["requestContext"].get("authorizer")
        if isinstance(authorizer, dict):
            stored["aws.authorizer"] = authorizer
        return stored

    def scope(self, stored: dict[str, Any], context: LambdaContext | None, state: dict[str, Any]) -> Scope:
        """The ASGI `websocket` scope of this event, rebuilt from what was stored at CONNECT."""
        path = stored["path"]
        scope: Scope = {
            "type": "websocket",
            # 2.3, not 2.4: a send to a client that has left is dropped rather than raising OSError.
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "scheme": "wss",
            "path": path,
            "raw_path": path.encode("utf-8"),
            "root_path": "",
            "query_string": stored["query_string"].encode("ascii"),
            "headers": [
                (name.encode("latin-1"), value.encode("latin-1")) for name, value in stored["headers"]
            ],
            "server": tuple(stored["server"]),
            "client": tuple(stored["client"]) if stored.get("client") else None,
            "subprotocols": list(stored["subprotocols"]),
            "extensions": {"websocket.http.response": {}},
            "state": state,
            "aws.event": self.event,
            "aws.context": context,
            EVENT_SCOPE_KEY: self.type.lower(),
            ROUTE_SCOPE_KEY: self.route_key,
        }
        if "aws.authorizer" in stored:
            scope["aws.authorizer"] = stored["aws.authorizer"]
        return scope
