"""asgiway: ASGI apps, WebSockets included, on AWS Lambda behind API Gateway."""

from asgiway.adapter import Adapter
from asgiway.exceptions import (
    AsgiwayError,
    BackendError,
    ConfigurationError,
    LifespanError,
    MalformedEventError,
    SessionEndedError,
    TooManyRoomsError,
)
from asgiway.sources import EVENT_SCOPE_KEY

__all__ = [
    "EVENT_SCOPE_KEY",
    "Adapter",
    "AsgiwayError",
    "BackendError",
    "ConfigurationError",
    "LifespanError",
    "MalformedEventError",
    "SessionEndedError",
    "TooManyRoomsError",
]
