"""The WebSocket event source: inference, validation and the @connections endpoint."""

from __future__ import annotations

from typing import Any

import pytest

from asgiway.exceptions import MalformedEventError
from asgiway.sources import is_websocket_event
from asgiway.sources.websocket import WebSocketEvent
from asgiway.testing import connect_event, http_event, message_event
from tests.fixtures import EventFixture, event_index

#: The event fixtures by the source their index entries declare: the oracle for inference.
WEBSOCKET_EVENTS = [fixture for fixture in event_index().values() if fixture.source == "websocket"]
HTTP_EVENTS = [name for name, fixture in event_index().items() if fixture.source != "websocket"]


@pytest.mark.parametrize("fixture", WEBSOCKET_EVENTS, ids=lambda fixture: fixture.file)
def test_every_websocket_fixture_is_inferred_and_parsed(fixture: EventFixture) -> None:
    event = fixture.load()
    assert is_websocket_event(event)
    parsed = WebSocketEvent.parse(event)
    assert parsed.connection_id == event["requestContext"]["connectionId"]
    assert parsed.type == fixture.event_type


@pytest.mark.parametrize("name", HTTP_EVENTS)
def test_http_fixtures_are_not_websocket_events(aws_event: Any, name: str) -> None:
    assert not is_websocket_event(aws_event(name))


def test_endpoint_is_the_events_domain_and_stage(aws_event: Any) -> None:
    event = WebSocketEvent.parse(aws_event("websocket-message.json"))
    assert event.endpoint_url == "https://q7n2xk4wze.execute-api.eu-west-1.amazonaws.com/live"


def test_a_custom_domain_is_answered_through_execute_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    event = connect_event("c=", domain="chat.example.com", stage="live")
    event["requestContext"]["apiId"] = "k2j3h4"
    assert (
        WebSocketEvent.parse(event).endpoint_url == "https://k2j3h4.execute-api.eu-west-3.amazonaws.com/live"
    )


@pytest.mark.parametrize("field", ["connectionId", "domainName", "stage"])
def test_missing_required_fields_are_malformed(field: str) -> None:
    event = message_event("c=", "x")
    del event["requestContext"][field]
    with pytest.raises(MalformedEventError, match=field):
        WebSocketEvent.parse(event)


def test_a_non_string_body_is_malformed() -> None:
    event = message_event("c=", "x")
    event["body"] = {"not": "text"}
    with pytest.raises(MalformedEventError, match="body must be a string"):
        WebSocketEvent.parse(event).received()


def test_an_http_event_is_not_a_websocket_event() -> None:
    assert not is_websocket_event(http_event())
