"""Test helpers for apps served by asgiway: API Gateway-shaped events and a loopback @connections."""

from asgiway.testing.connections_api import Call, ConnectionsApiDouble
from asgiway.testing.events import (
    LambdaContextStub,
    connect_event,
    disconnect_event,
    http_event,
    message_event,
)

__all__ = [
    "Call",
    "ConnectionsApiDouble",
    "LambdaContextStub",
    "connect_event",
    "disconnect_event",
    "http_event",
    "message_event",
]
