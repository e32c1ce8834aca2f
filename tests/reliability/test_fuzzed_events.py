"""Fuzzed events: whatever Lambda hands the handler, it answers and never raises.

Hypothesis starts from the event fixtures in tests/fixtures/events (REST API and HTTP API payload
1.0, payload 2.0, Function URL, ALB with and without multi-value headers, Lambda@Edge viewer and
origin requests, WebSocket CONNECT, MESSAGE and DISCONNECT), plus a CONNECT the app refuses, and
breaks them: keys removed anywhere, values replaced by any JSON, 200 KB strings, bodies marked base64
that are not, unknown event types; and it sends things that are no event at all. 5,000 examples in
all (see EXAMPLES), and each test checks that Hypothesis really ran its share.

What counts as a valid answer depends on the event's source, and the oracle takes that source from
the fixture's entry in tests/fixtures/events/INDEX.json, never from the adapter. The rule for what
a change to a fixture does to its source:

- A seed or a mutation keeps its fixture's declared source as long as every fact that tells the
  sources apart on the AWS pages the index cites (`identifying_facts`) is as it was in the fixture.
  Removing `requestContext.identity`, breaking the body or replacing `requestContext.http.method`
  leaves a malformed event of the same source, which must get an answer that source accepts.
- A mutation that changes one of those facts (removes `requestContext`, turns `elb` into a number,
  sets a WebSocket event type on an HTTP event, an unknown one on a WebSocket event, ...) may have
  made the event one of another source or of none: its source is then undetermined, and the answer
  need only be one that some source accepts.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asgiway import Adapter
from asgiway.backends import Backend, from_dsn
from asgiway.testing import ConnectionsApiDouble, LambdaContextStub
from asgiway.types import Message, Receive, Scope, Send
from tests.fixtures import (
    EVENTS_DIR,
    INDEX,
    SOURCES,
    WEBSOCKET_EVENT_TYPES,
    EventFixture,
    Source,
    event_index,
)

#: Examples per test; they add up to the 5,000 the suite promises.
EXAMPLES = {"mutated": 4000, "not_an_event": 1000}
HUGE = "x" * 200_000


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        # 200 KB strings make some examples slow to run; that is the point of them.
        suppress_health_check=[HealthCheck.too_slow],
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


@dataclass(frozen=True)
class Seed:
    """An event Hypothesis starts from, and the source its fixture declares."""

    name: str
    source: Source
    event: dict[str, Any]


def _refused_connect(fixture: EventFixture) -> Seed:
    """The CONNECT fixture with a query string that makes `app` refuse it.

    A query string is no identifying fact, so the seed keeps the fixture's source.
    """
    event = fixture.load()
    event["queryStringParameters"] = {"deny": "1"}
    event["multiValueQueryStringParameters"] = {"deny": ["1"]}
    return Seed(f"{fixture.file}, refused", fixture.source, event)


SEEDS = [
    *(Seed(name, fixture.source, fixture.load()) for name, fixture in event_index().items()),
    *(_refused_connect(fixture) for fixture in event_index().values() if fixture.event_type == "CONNECT"),
]


def identifying_facts(event: dict[str, Any]) -> tuple[object, ...]:
    """What tells the sources apart on the pages the index cites, for the oracle's rule above.

    Every source's events but CloudFront's have a `requestContext` object. A WebSocket API's carries
    `eventType` CONNECT, MESSAGE or DISCONNECT; an ALB's an `elb` object; payload 2.0's (HTTP API,
    Function URL) an `http` object, with `version` "2.0" beside it; payload 1.0 has `httpMethod` (as
    ALB does), and an HTTP API's 1.0 events `version` "1.0" where a REST API's have none. A
    Lambda@Edge event is a `Records` list whose first record has a `cf` object, whose `config` names
    the trigger in `eventType`.
    """
    records = event.get("Records")
    first = records[0] if isinstance(records, list) and records else None
    cf = first.get("cf") if isinstance(first, dict) else None
    config = cf.get("config") if isinstance(cf, dict) else None
    trigger = config.get("eventType") if isinstance(config, dict) else None
    context = event.get("requestContext")
    if not isinstance(context, dict):
        context = None
    event_type = context.get("eventType") if context is not None else None
    return (
        context is not None,
        isinstance(event_type, str) and event_type in WEBSOCKET_EVENT_TYPES,
        context is not None and isinstance(context.get("elb"), dict),
        context is not None and isinstance(context.get("http"), dict),
        event.get("version"),
        "httpMethod" in event,
        isinstance(cf, dict) and isinstance(config, dict),
        trigger if isinstance(trigger, str) else None,
    )


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
def broken_events(draw: st.DrawFn) -> tuple[Source | None, dict[str, Any]]:
    """A mutated seed, and its source by the oracle's rule: the seed's, or None when undetermined."""
    seed = draw(st.sampled_from(SEEDS))
    event: dict[str, Any] = copy.deepcopy(seed.event)
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
    kept = identifying_facts(event) == identifying_facts(seed.event)
    return (seed.source if kept else None), event


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


def assert_cloudfront_accepts(reply: Any) -> None:
    """A response generated for CloudFront: `status` a string of digits, headers as lists of
    `{key, value}`, `body` with its `bodyEncoding`."""
    assert isinstance(reply, dict), reply
    assert isinstance(reply.get("status"), str), reply
    assert reply["status"].isdigit(), reply
    assert 100 <= int(reply["status"]) <= 599, reply
    assert isinstance(reply.get("statusDescription", ""), str), reply
    headers = reply.get("headers", {})
    assert isinstance(headers, dict), reply
    for entries in headers.values():
        assert isinstance(entries, list), reply
        assert all(_is_text_map(entry) and set(entry) == {"key", "value"} for entry in entries), reply
    assert isinstance(reply.get("body", ""), str), reply
    assert reply.get("bodyEncoding", "text") in ("text", "base64"), reply


def assert_any_source_accepts(reply: Any) -> None:
    """What one of the sources accepts: the proxy shape API Gateway (REST, HTTP and WebSocket
    APIs), Function URLs and ALB share, or CloudFront's."""
    if isinstance(reply, dict) and "status" in reply and "statusCode" not in reply:
        assert_cloudfront_accepts(reply)
        return
    assert_proxy_shape(reply)


def assert_proxy_shape(reply: Any) -> None:
    """What API Gateway (REST, HTTP and WebSocket APIs), a Function URL and an ALB all accept."""
    assert isinstance(reply, dict), reply
    assert isinstance(reply.get("statusCode"), int), reply
    assert 100 <= reply["statusCode"] <= 599, reply
    assert isinstance(reply.get("body", ""), str), reply
    assert _is_text_map(reply.get("headers", {})), reply


def assert_proxy_response(reply: Any) -> None:
    """The fields of a response to an HTTP request, which every HTTP source reads."""
    assert isinstance(reply.get("isBase64Encoded"), bool), reply
    multi = reply.get("multiValueHeaders", {})
    assert isinstance(multi, dict), reply
    assert all(isinstance(values, list) for values in multi.values()), reply
    assert all(isinstance(cookie, str) for cookie in reply.get("cookies", [])), reply


def assert_valid_response(source: Source | None, reply: Any) -> None:
    """A return value the service behind `source` accepts; with the source undetermined, any does."""
    if source == "lambda_edge":
        assert_cloudfront_accepts(reply)
        return
    assert_any_source_accepts(reply)
    if source is None or source == "websocket":
        return
    assert_proxy_response(reply)
    if source == "alb":
        assert isinstance(reply.get("statusDescription", ""), str), reply


def _connection_id_of_a_connect(source: Source | None, event: dict[str, Any]) -> str | None:
    if source != "websocket":
        return None
    # Its identifying facts are the fixture's, so requestContext is an object.
    context = event["requestContext"]
    connection_id = context.get("connectionId")
    if context.get("eventType") == "CONNECT" and isinstance(connection_id, str) and connection_id:
        return connection_id
    return None


def test_broken_events_get_a_valid_answer_and_a_refused_connect_leaves_no_record(
    served: tuple[Adapter, Backend],
) -> None:
    handler, store = served
    checked_as: Counter[Source | None] = Counter()
    refused_connects = 0

    @fuzz_settings(EXAMPLES["mutated"])
    @given(broken=broken_events())
    def answer(broken: tuple[Source | None, dict[str, Any]]) -> None:
        nonlocal refused_connects
        source, event = broken
        checked_as[source] += 1
        connecting = _connection_id_of_a_connect(source, event)
        if connecting is not None:
            store.delete(connecting)  # ids repeat across examples; each CONNECT starts with none
        reply = handler(copy.deepcopy(event), LambdaContextStub())
        assert_valid_response(source, reply)
        if connecting is not None and reply["statusCode"] != 200:
            refused_connects += 1
            assert store.load(connecting) is None, "a refused CONNECT left its record behind"

    answer()

    # max_examples is a ceiling: Hypothesis stops early, and passes, once a strategy runs out of
    # distinct examples (a smaller index would do it). So what ran is counted, not read from EXAMPLES.
    assert checked_as.total() >= EXAMPLES["mutated"]
    # Neither oracle went unused: every declared source had answers checked, and some CONNECTs were refused.
    assert set(checked_as) >= SOURCES
    assert refused_connects > 0


#: Top-level keys shorter than "requestContext", which every event of every source but CloudFront
#: carries (see the pages the index cites), and than asgiway's own "asgiway.deliver", and never
#: CloudFront's "Records": so no source sends these.
NOT_EVENT_KEYS = st.text(max_size=len("requestContext") - 1).filter(lambda key: key != "Records")


def test_anything_else_gets_a_400_never_an_exception(served: tuple[Adapter, Backend]) -> None:
    handler, _ = served
    ran = 0

    @fuzz_settings(EXAMPLES["not_an_event"])
    @given(event=json_values | st.dictionaries(NOT_EVENT_KEYS, json_values, max_size=6))
    def answer(event: Any) -> None:
        nonlocal ran
        ran += 1
        reply = handler(event, LambdaContextStub())
        # From no source, the 400 is shaped to be what every proxy source accepts.
        assert_proxy_shape(reply)
        assert_proxy_response(reply)
        assert reply["statusCode"] == 400, reply

    answer()

    assert ran >= EXAMPLES["not_an_event"]


def test_every_event_fixture_is_indexed_and_seeds_the_fuzzing() -> None:
    on_disk = {path.name for path in EVENTS_DIR.glob("*.json")} - {INDEX.name}
    assert set(event_index()) == on_disk
    assert {seed.name for seed in SEEDS} >= on_disk
    assert {seed.source for seed in SEEDS} == SOURCES
