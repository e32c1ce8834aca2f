"""Fuzzed events: whatever Lambda hands the handler, it answers and never raises.

Hypothesis starts from the recorded AWS events and the test builders (HTTP payload 1.0 and 2.0,
Function URL, ALB, WebSocket CONNECT/MESSAGE/DISCONNECT) and breaks them: keys removed anywhere,
values replaced by any JSON, 200 KB strings, bodies marked base64 that are not, unknown event
types; and it sends things that are no event at all. 5,000 examples in all (see EXAMPLES).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asgiway import Adapter
from asgiway.backends import Backend, from_dsn
from asgiway.sources import is_websocket_event
from asgiway.testing import (
    ConnectionsApiDouble,
    LambdaContextStub,
    connect_event,
    disconnect_event,
    http_event,
    message_event,
)
from asgiway.types import Message, Receive, Scope, Send
from tests.conftest import aws_events_dir

#: Examples per test; they add up to the 5,000 the suite promises.
EXAMPLES = {"mutated": 4000, "not_an_event": 1000}
HUGE = "x" * 200_000


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        # The autouse credentials fixture is function-scoped, and the same for every example.
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers HTTP with 200; accepts WebSockets unless the query says `deny`; echoes frames."""
    if scope["type"] == "http":
        await receive()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok"})
        return
    if scope["type"] != "websocket":
        return
    await receive()
    if b"deny" in scope["query_string"]:
        await send({"type": "websocket.close", "code": 1008})
        return
    await send({"type": "websocket.accept"})
    while True:
        message: Message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message.get("text") or "binary"})


def _recorded_events() -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(aws_events_dir().glob("*.json"))]


BASE_EVENTS = [
    *_recorded_events(),
    http_event("POST", "/form", body=b"a=1", headers={"content-type": "application/x-www-form-urlencoded"}),
    connect_event("Fuzz="),
    connect_event("Deny=", query={"deny": ["1"]}),
    message_event("Fuzz=", "hello"),
    disconnect_event("Fuzz="),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _key_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*prefix, key)
            yield from _key_paths(child, (*prefix, key))


@st.composite
def broken_events(draw: st.DrawFn) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(BASE_EVENTS)))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_key_paths(event))
        if not paths:
            break
        *parents, key = draw(st.sampled_from(paths))
        parent = event
        for name in parents:
            parent = parent[name]
        action = draw(st.sampled_from(["remove", "replace", "huge", "bad base64", "event type"]))
        if action == "remove":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(json_values)
        elif action == "huge":
            parent[key] = HUGE
        elif action == "bad base64":
            event["body"], event["isBase64Encoded"] = draw(st.sampled_from(["%%%", "abc", "é=="])), True
        elif isinstance(event.get("requestContext"), dict):
            event["requestContext"]["eventType"] = draw(
                st.text(max_size=10) | st.sampled_from(["CONNECT", "MESSAGE"])
            )
    return event


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Adapter, Backend]]:
    dsn = f"sqlite://{tmp_path_factory.mktemp('fuzz') / 'connections.db'}"
    with ConnectionsApiDouble() as connections_api:
        handler = Adapter(app, dsn=dsn, lifespan="off", api_gateway_endpoint_url=connections_api.endpoint_url)
        yield handler, from_dsn(dsn)
        handler.close()


def _is_text_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def assert_valid_response(event: Any, reply: Any) -> None:
    """A return value API Gateway, a Function URL or an ALB accepts for the event's source."""
    assert isinstance(reply, dict), reply
    assert isinstance(reply.get("statusCode"), int), reply
    assert 100 <= reply["statusCode"] <= 599, reply
    assert isinstance(reply.get("body", ""), str), reply
    assert _is_text_map(reply.get("headers", {})), reply
    if isinstance(event, dict) and is_websocket_event(event):
        return
    assert isinstance(reply.get("isBase64Encoded"), bool), reply
    multi = reply.get("multiValueHeaders", {})
    assert isinstance(multi, dict), reply
    assert all(isinstance(values, list) for values in multi.values()), reply
    assert all(isinstance(cookie, str) for cookie in reply.get("cookies", [])), reply
    context = event.get("requestContext") if isinstance(event, dict) else None
    if isinstance(context, dict) and isinstance(context.get("elb"), dict):
        assert isinstance(reply.get("statusDescription", ""), str), reply


def _connection_id_of_a_connect(event: Any) -> str | None:
    if not (isinstance(event, dict) and is_websocket_event(event)):
        return None
    context = event["requestContext"]
    connection_id = context.get("connectionId")
    if context.get("eventType") == "CONNECT" and isinstance(connection_id, str) and connection_id:
        return connection_id
    return None


@fuzz_settings(EXAMPLES["mutated"])
@given(event=broken_events())
def test_broken_events_get_a_valid_answer_and_a_refused_connect_leaves_no_record(
    served: tuple[Adapter, Backend], event: dict[str, Any]
) -> None:
    handler, store = served
    connecting = _connection_id_of_a_connect(event)
    if connecting is not None:
        store.delete(connecting)  # ids repeat across examples; each CONNECT starts with none
    reply = handler(copy.deepcopy(event), LambdaContextStub())
    assert_valid_response(event, reply)
    if connecting is not None and reply["statusCode"] != 200:
        assert store.load(connecting) is None, "a refused CONNECT left its record behind"


@fuzz_settings(EXAMPLES["not_an_event"])
@given(event=json_values | st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_anything_else_gets_a_400_never_an_exception(served: tuple[Adapter, Backend], event: Any) -> None:
    handler, _ = served
    reply = handler(event, LambdaContextStub())
    assert_valid_response(event, reply)
    if not isinstance(event, dict) or not is_websocket_event(event):
        assert reply["statusCode"] == 400, reply


def test_the_examples_add_up_to_five_thousand() -> None:
    assert sum(EXAMPLES.values()) >= 5000


def test_the_recorded_events_are_all_in_the_mix() -> None:
    recorded = list(Path(aws_events_dir()).glob("*.json"))
    assert len(recorded) >= 9
    assert len(BASE_EVENTS) == len(recorded) + 5
