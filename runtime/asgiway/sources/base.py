"""The protocol every HTTP event source follows (one module per source, as in Mangum 0.22)."""

from __future__ import annotations

from abc import ABC, abstractmethod

from asgiway.types import (
    AdapterConfig,
    HTTPResponse,
    LambdaContext,
    LambdaEvent,
    LambdaResponse,
    Scope,
)


class HTTPSource(ABC):
    """Turns one Lambda HTTP event into an ASGI `http` scope and body, and the app's answer back.

    `infer` says whether an event is this source's; the adapter tries the sources in order.
    """

    #: Whether API Gateway's integration timeout ends this source's requests (the adapter's
    #: `api_gateway_timeout`); otherwise only the Lambda function's own timeout does.
    bounded_by_api_gateway: bool = True

    def __init__(self, event: LambdaEvent, context: LambdaContext | None, config: AdapterConfig) -> None:
        self.event = event
        self.context = context
        self.config = config

    @classmethod
    @abstractmethod
    def infer(cls, event: LambdaEvent, context: LambdaContext | None, config: AdapterConfig) -> bool:
        """True when `event` comes from this source."""

    @property
    @abstractmethod
    def scope(self) -> Scope:
        """The ASGI 3 `http` scope, with `aws.event` and `aws.context`."""

    @property
    @abstractmethod
    def body(self) -> bytes:
        """The request body, base64-decoded when the event says it is encoded."""

    def refusal(self) -> HTTPResponse | None:
        """An answer the source gives without running the app (a request it cannot pass on whole),
        or None to run the app."""
        return None

    @abstractmethod
    def __call__(self, response: HTTPResponse) -> LambdaResponse:
        """The Lambda return value this source expects for the app's response."""
