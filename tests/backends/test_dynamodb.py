"""What is particular to the DynamoDB backend: the table, its items, consistency, errors, limits."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from typing import TYPE_CHECKING, Any

import pytest

from asgiway.backends import ConnectionRecord, from_dsn
from asgiway.backends.base import RECORD_LIFETIME_SECONDS
from asgiway.backends.dynamodb import DynamoDBBackend
from asgiway.exceptions import BackendError
from tests.support.aws_proxy import Answer, AwsProxy, Forward, Request
from tests.support.services import MotoServer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.literals import KeyTypeType, ScalarAttributeTypeType

pytestmark = pytest.mark.usefixtures("aws_test_credentials")


def record(connection_id: str, **state: Any) -> ConnectionRecord:
    return ConnectionRecord(connection_id, {"type": "websocket", "path": "/ws"}, state, time.time() + 3600)


@pytest.fixture
def table() -> str:
    return f"T_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def dynamodb(moto_server: MotoServer) -> DynamoDBClient:
    """A client of our own on the moto server, to look at the table behind the backend's back."""
    import boto3

    return boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto_server.endpoint_url)


@pytest.fixture
def make(moto_server: MotoServer, table: str) -> Iterator[Callable[..., DynamoDBBackend]]:
    """Builds backends on this test's table from a dsn, as a user would, closing them at the end."""
    made: list[DynamoDBBackend] = []

    def build(*, create: bool = True) -> DynamoDBBackend:
        dsn = f"dynamodb://{table}?region=us-east-1&endpoint_url={moto_server.endpoint_url}"
        backend = from_dsn(f"{dsn}&create=true" if create else dsn)
        assert isinstance(backend, DynamoDBBackend)
        made.append(backend)
        return backend

    yield build
    for backend in made:
        backend.close()


def items(dynamodb: DynamoDBClient, table: str) -> list[dict[str, Any]]:
    """Every item of the table, attribute values unwrapped to str."""
    found = dynamodb.scan(TableName=table, ConsistentRead=True)["Items"]
    return [{name: next(iter(value.values())) for name, value in item.items()} for item in found]


def create_table(
    dynamodb: DynamoDBClient, table: str, *keys: tuple[str, ScalarAttributeTypeType, KeyTypeType]
) -> None:
    """A table with `keys` as (name, type, HASH or RANGE)."""
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": name, "KeyType": kind} for name, _, kind in keys],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": type_} for name, type_, _ in keys],
        BillingMode="PAY_PER_REQUEST",
    )


# The table


def test_describe_names_table_region_and_endpoint(make: Callable[..., DynamoDBBackend], table: str) -> None:
    backend = make()
    assert backend.describe() == f"dynamodb table {table} in us-east-1 (endpoint {backend.endpoint_url})"


def test_a_missing_table_says_what_to_create(
    make: Callable[..., DynamoDBBackend], dynamodb: DynamoDBClient, table: str
) -> None:
    backend = make(create=False)
    with pytest.raises(BackendError) as caught:
        backend.load("a")
    message = str(caught.value)
    assert message.startswith(f"{backend.describe()}: the table does not exist")
    for needed in (
        "'pk' (type S, HASH)",
        "'sk' (type S, RANGE)",
        "attribute 'ttl'",
        "PAY_PER_REQUEST",
        "create=true",
    ):
        assert needed in message
    assert f"aws dynamodb create-table --region us-east-1 --table-name {table}" in message
    assert "--time-to-live-specification Enabled=true,AttributeName=ttl" in message
    assert table not in dynamodb.list_tables()["TableNames"]


def test_a_table_with_other_keys_is_refused(
    make: Callable[..., DynamoDBBackend], dynamodb: DynamoDBClient, table: str
) -> None:
    create_table(dynamodb, table, ("id", "S", "HASH"))
    backend = make()  # create=true does not touch a table that exists
    with pytest.raises(BackendError) as caught:
        backend.save(record("a"))
    message = str(caught.value)
    assert message.startswith(f"{backend.describe()}: the table's key schema is 'id' (type S, HASH)")
    assert "but asgiway needs partition key 'pk' (type S, HASH), sort key 'sk' (type S, RANGE)" in message


def test_a_sort_key_of_the_wrong_type_is_refused(
    make: Callable[..., DynamoDBBackend], dynamodb: DynamoDBClient, table: str
) -> None:
    create_table(dynamodb, table, ("pk", "S", "HASH"), ("sk", "N", "RANGE"))
    with pytest.raises(BackendError, match=r"'pk' \(type S, HASH\), 'sk' \(type N, RANGE\), but"):
        make().connections()


def test_create_true_makes_the_table_with_ttl(
    make: Callable[..., DynamoDBBackend], dynamodb: DynamoDBClient, table: str
) -> None:
    make().connections()
    description = dynamodb.describe_table(TableName=table)["Table"]
    assert description["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert sorted((a["AttributeName"], a["AttributeType"]) for a in description["AttributeDefinitions"]) == [
        ("pk", "S"),
        ("sk", "S"),
    ]
    assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert description["TableStatus"] == "ACTIVE"
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}


class TableCreatedByTwo:
    """What AWS does, and moto does not, when two containers first meet a missing table at once.

    Both DescribeTables are held until both have arrived, so both backends find no table and both
    call CreateTable: moto lets the first through and refuses the second (ResourceInUseException).
    A new table then stays CREATING for the next `polls` DescribeTables, in which time AWS refuses
    UpdateTimeToLive (ResourceInUseException) and every item call (ResourceNotFoundException).
    """

    def __init__(self, table: str, polls: int = 2) -> None:
        self.table = table
        self._both_looked = threading.Barrier(2, timeout=30)
        self._lock = threading.Lock()
        self._first_looks = 2
        self._creating_polls = 0
        self._polls_after_creation = polls
        #: Each CreateTable's outcome: "created", or the code of its error.
        self.creations: list[str] = []

    def __call__(self, request: Request, forward: Forward) -> Answer:
        operation = request.operation
        if request.document().get("TableName") != self.table:
            return forward(request)
        with self._lock:
            first_look = operation == "DescribeTable" and self._first_looks > 0
            self._first_looks -= first_look
            creating = self._creating_polls > 0
            self._creating_polls -= creating and operation == "DescribeTable"
        if first_look:
            self._both_looked.wait()
        elif operation == "CreateTable":
            return self._create(request, forward)
        elif creating:
            return self._while_creating(request, forward)
        return forward(request)

    def _create(self, request: Request, forward: Forward) -> Answer:
        answer = forward(request)
        with self._lock:
            if answer.status == 200:
                self._creating_polls = self._polls_after_creation
                self.creations.append("created")
                return creating_status(answer)
            self.creations.append(answer.document()["__type"].rpartition("#")[2])
            return answer

    def _while_creating(self, request: Request, forward: Forward) -> Answer:
        if request.operation == "DescribeTable":
            return creating_status(forward(request))
        if request.operation == "UpdateTimeToLive":
            return Answer.dynamodb_error("ResourceInUseException", f"Table is being created: {self.table}")
        return Answer.dynamodb_error("ResourceNotFoundException", "Requested resource not found")


def creating_status(answer: Answer) -> Answer:
    """`answer` (of CreateTable or DescribeTable) telling of a table that is still being created."""
    document = answer.document()
    description = document.get("TableDescription") or document["Table"]
    description["TableStatus"] = "CREATING"
    return Answer.dynamodb(answer.status, document)


def test_two_backends_creating_the_table_at_once_both_use_it_once_it_is_active(
    moto_server: MotoServer, dynamodb: DynamoDBClient, table: str
) -> None:
    race = TableCreatedByTwo(table)
    with AwsProxy(moto_server.endpoint_url, race) as proxy:
        dsn = f"dynamodb://{table}?create=true&region=us-east-1&endpoint_url={proxy.endpoint_url}"
        with (
            closing(from_dsn(dsn)) as first,
            closing(from_dsn(dsn)) as second,
            ThreadPoolExecutor(2) as threads,
        ):
            saved = threads.submit(first.save, record("a"))
            loaded = threads.submit(second.load, "b")
            saved.result(timeout=60)
            assert loaded.result(timeout=60) is None
            second.save(record("b"))
            assert first.load("b") is not None
            assert sorted(second.connections()) == ["a", "b"]

    assert sorted(race.creations) == ["ResourceInUseException", "created"]
    # TTL is the creator's to enable, once the table is ACTIVE: the other backend leaves it be.
    assert proxy.operations().count("UpdateTimeToLive") == 1
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}


def test_the_table_is_checked_once(
    make: Callable[..., DynamoDBBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[None] = []
    real_open = DynamoDBBackend._open

    def counted(backend: DynamoDBBackend) -> Any:
        opened.append(None)
        return real_open(backend)

    monkeypatch.setattr(DynamoDBBackend, "_open", counted)
    backend = make()
    for i in range(5):
        backend.save(record(f"c{i}"))
        backend.join(f"c{i}", "lobby")
        backend.load(f"c{i}")
        backend.members("lobby")
        backend.rooms(f"c{i}")
        backend.connections()
        backend.delete(f"c{i}")
    assert len(opened) == 1


def test_a_vanished_table_is_created_again_under_create_true(
    make: Callable[..., DynamoDBBackend], dynamodb: DynamoDBClient, table: str
) -> None:
    """A local emulator restarted without its data: one call fails, the next finds a new table."""
    backend = make()
    backend.save(record("a"))
    dynamodb.delete_table(TableName=table)
    with pytest.raises(BackendError, match="the table does not exist"):
        backend.load("a")
    assert backend.load("a") is None
    backend.save(record("b"))
    assert backend.connections() == ["b"]
    assert (
        dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["TimeToLiveStatus"]
        == "ENABLED"
    )


# Items


def test_items_follow_the_documented_layout_and_carry_ttl(
    make: Callable[..., DynamoDBBackend], dynamodb: DynamoDBClient, table: str
) -> None:
    backend = make()
    saved = record("Qw9=", user="ada")
    backend.join("Qw9=", "lobby")
    joined_at = time.time()
    backend.save(saved)
    by_key = {(item["pk"], item["sk"]): item for item in items(dynamodb, table)}
    assert set(by_key) == {("conn#Qw9=", "conn"), ("conn#Qw9=", "room#lobby"), ("room#lobby", "conn#Qw9=")}
    stored = by_key["conn#Qw9=", "conn"]
    assert stored["scope"] == '{"type":"websocket","path":"/ws"}'
    assert stored["state"] == '{"user":"ada"}'
    assert float(stored["expires_at"]) == saved.expires_at
    assert stored["ttl"] == str(math.ceil(saved.expires_at))
    for key in (("conn#Qw9=", "room#lobby"), ("room#lobby", "conn#Qw9=")):
        assert set(by_key[key]) == {"pk", "sk", "ttl"}
        assert int(by_key[key]["ttl"]) == pytest.approx(joined_at + RECORD_LIFETIME_SECONDS, abs=2)


@pytest.mark.parametrize(
    ("connection_id", "room"),
    [
        ("conn", "conn"),
        ("room#lobby", "lobby"),
        ("", ""),
        ("#", "room#"),
        ("conn#room#x", "conn#y"),
        ("quote'double\"/slash", "ünïcødé ✓ 中文 🎉"),
    ],
)
def test_keys_hold_ids_and_room_names_verbatim_after_their_tag(
    make: Callable[..., DynamoDBBackend], dynamodb: DynamoDBClient, table: str, connection_id: str, room: str
) -> None:
    """Ids and rooms that look like tags or keys stay data: the tag is a fixed prefix of one value."""
    backend = make()
    backend.save(record(connection_id))
    backend.save(record("plain"))
    backend.join(connection_id, room)
    backend.join("plain", "conn")
    keys = {(item["pk"], item["sk"]) for item in items(dynamodb, table)}
    assert ("conn#" + connection_id, "room#" + room) in keys
    assert ("room#" + room, "conn#" + connection_id) in keys
    assert sorted(backend.connections()) == sorted([connection_id, "plain"])
    assert backend.rooms(connection_id) == [room]
    assert sorted(backend.members(room)) == sorted({connection_id} | ({"plain"} if room == "conn" else set()))
    backend.delete(connection_id)
    assert {item["pk"] for item in items(dynamodb, table)} == {"conn#plain", "room#conn"}


def test_a_record_over_400_kb_is_refused(
    make: Callable[..., DynamoDBBackend], dynamodb: DynamoDBClient, table: str
) -> None:
    """DynamoDB counts UTF-8 bytes: 110,000 emoji are 440,000 bytes, over 409,600."""
    backend = make()
    backend.save(record("fits", text="x" * 300_000))
    with pytest.raises(BackendError) as caught:
        backend.save(record("big", text="🎉" * 110_000))
    message = str(caught.value)
    assert message.startswith(f"{backend.describe()}: the record of connection 'big' is 440,")
    assert "state 440,011 as JSON" in message
    assert "DynamoDB's item limit of 400 KB (409,600 bytes)" in message
    assert backend.connections() == ["fits"]


def test_delete_removes_memberships_beyond_one_batch(
    make: Callable[..., DynamoDBBackend], dynamodb: DynamoDBClient, table: str
) -> None:
    """30 rooms make 61 items to delete: three BatchWriteItem calls of at most 25."""
    backend = make()
    backend.save(record("a"))
    backend.save(record("b"))
    for n in range(30):
        backend.join("a", f"room-{n}")
    backend.join("b", "room-0")
    assert len(items(dynamodb, table)) == 2 + 2 * 31
    backend.delete("a")
    assert {(item["pk"], item["sk"]) for item in items(dynamodb, table)} == {
        ("conn#b", "conn"),
        ("conn#b", "room#room-0"),
        ("room#room-0", "conn#b"),
    }


def test_unprocessed_items_are_sent_again(
    make: Callable[..., DynamoDBBackend],
    dynamodb: DynamoDBClient,
    table: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A throttled partition makes BatchWriteItem return part of the batch as UnprocessedItems."""
    backend = make()
    backend.save(record("a"))
    backend.join("a", "lobby")
    client = backend._connect()
    real_write = client.batch_write_item
    sizes: list[int] = []

    def one_at_a_time(RequestItems: dict[str, list[Any]]) -> Any:
        ((table, requests),) = RequestItems.items()
        sizes.append(len(requests))
        real_write(RequestItems={table: requests[:1]})
        return {"UnprocessedItems": {table: requests[1:]} if requests[1:] else {}}

    monkeypatch.setattr(client, "batch_write_item", one_at_a_time)
    backend.delete("a")
    assert sizes == [3, 2, 1]
    assert items(dynamodb, table) == []


def test_a_batch_that_stays_unprocessed_raises(
    make: Callable[..., DynamoDBBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = make()
    client = backend._connect()
    backend.save(record("a"))
    monkeypatch.setattr(client, "batch_write_item", lambda RequestItems: {"UnprocessedItems": RequestItems})
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    with pytest.raises(BackendError) as caught:
        backend.delete("a")
    assert str(caught.value) == (
        f"{backend.describe()}: BatchWriteItem left part of a batch unprocessed after 7 tries"
        " over 3.15 s (the table is throttled)"
    )


def test_update_is_one_conditional_put_that_is_not_retried(make: Callable[..., DynamoDBBackend]) -> None:
    """A failed condition says the record is gone: one request, no retry, nothing written."""
    backend = make()
    sent: list[str] = []
    conditions: list[Any] = []

    def note(params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        if model.name == "PutItem":
            conditions.append(params.get("ConditionExpression"))

    client = backend._connect()
    client.meta.events.register("provide-client-params.dynamodb.PutItem", note)
    client.meta.events.register("before-send.dynamodb.PutItem", lambda **kwargs: sent.append("PutItem"))
    assert backend.update(record("gone")) is False
    assert sent == ["PutItem"]
    assert conditions == ["attribute_exists(#pk) AND #expires_at > :now AND attribute_not_exists(#ended)"]
    backend.save(record("a", n=1))
    assert backend.update(record("a", n=2)) is True
    loaded = backend.load("a")
    assert loaded is not None
    assert loaded.state == {"n": 2}


def test_update_refuses_a_record_over_400_kb(
    make: Callable[..., DynamoDBBackend], dynamodb: DynamoDBClient, table: str
) -> None:
    backend = make()
    backend.save(record("big", n=1))
    with pytest.raises(BackendError) as caught:
        backend.update(record("big", text="🎉" * 110_000))
    message = str(caught.value)
    assert message.startswith(f"{backend.describe()}: the record of connection 'big' is 440,")
    assert "DynamoDB's item limit of 400 KB (409,600 bytes)" in message
    (stored,) = items(dynamodb, table)
    assert stored["state"] == '{"n":1}'


def test_every_read_is_consistent(make: Callable[..., DynamoDBBackend]) -> None:
    """A MESSAGE right after CONNECT may run in another container: eventually consistent reads
    could miss the record. (moto is always consistent, so the test looks at the requests.)"""
    backend = make()
    reads: list[tuple[str, Any]] = []

    def note(params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        if model.name == "BatchGetItem":
            reads.extend((model.name, keys.get("ConsistentRead")) for keys in params["RequestItems"].values())
        elif model.name in ("GetItem", "Query", "Scan"):
            reads.append((model.name, params.get("ConsistentRead")))

    backend._connect().meta.events.register("provide-client-params.dynamodb", note)
    backend.save(record("a"))
    backend.join("a", "lobby")
    backend.load("a")
    backend.members("lobby")
    backend.rooms("a")
    backend.connections()
    backend.delete("a")
    assert {name for name, _ in reads} == {"GetItem", "Query", "Scan", "BatchGetItem"}
    assert all(consistent is True for _, consistent in reads), reads


def test_join_writes_the_by_room_item_first_and_leave_removes_it_last(
    make: Callable[..., DynamoDBBackend],
) -> None:
    """So racing joins and leaves never leave a by-room item alone, which delete could not find."""
    backend = make()
    writes: list[tuple[str, str]] = []

    def note(params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        if model.name in ("PutItem", "DeleteItem"):
            key = params.get("Item") or params["Key"]
            writes.append((model.name, key["pk"]["S"]))

    backend._connect().meta.events.register("provide-client-params.dynamodb", note)
    backend.join("a", "lobby")
    backend.leave("a", "lobby")
    assert writes == [
        ("PutItem", "room#lobby"),
        ("PutItem", "conn#a"),
        ("DeleteItem", "conn#a"),
        ("DeleteItem", "room#lobby"),
    ]


# Ended connections

#: What the asgiway CDK construct grants the function on the table (infra/asgiway_cdk/construct.py).
GRANTED = {
    "GetItem",
    "BatchGetItem",
    "PutItem",
    "DeleteItem",
    "BatchWriteItem",
    "Query",
    "Scan",
    "DescribeTable",
}


def operations(backend: DynamoDBBackend) -> list[str]:
    """The name of each later DynamoDB operation the backend calls (connecting it first)."""
    called: list[str] = []
    backend._connect().meta.events.register(
        "provide-client-params.dynamodb", lambda model, **_: called.append(model.name)
    )
    return called


def test_an_ended_record_keeps_its_attributes_and_ttl(
    make: Callable[..., DynamoDBBackend], dynamodb: DynamoDBClient, table: str
) -> None:
    backend = make()
    saved = record("a", n=1)
    backend.save(saved)
    backend.join("a", "lobby")
    called = operations(backend)
    assert backend.end("a", "gone") is True
    assert set(called) <= GRANTED, called
    (stored,) = items(dynamodb, table)
    assert stored == {
        "pk": "conn#a",
        "sk": "conn",
        "scope": '{"type":"websocket","path":"/ws"}',
        "state": '{"n":1}',
        "expires_at": repr(saved.expires_at),
        "ttl": str(math.ceil(saved.expires_at)),
        "ended": "gone",
    }


def test_update_of_an_ended_record_puts_it_again_with_its_reason(
    make: Callable[..., DynamoDBBackend],
) -> None:
    backend = make()
    backend.save(record("a", n=1))
    assert backend.end("a", "gone") is True
    conditions: list[str] = []
    backend._connect().meta.events.register(
        "provide-client-params.dynamodb.PutItem",
        lambda params, **_: conditions.append(params["ConditionExpression"]),
    )
    called = operations(backend)
    assert backend.update(record("a", n=2)) is True
    assert called == ["PutItem", "PutItem"]
    assert conditions == [
        "attribute_exists(#pk) AND #expires_at > :now AND attribute_not_exists(#ended)",
        "attribute_exists(#pk) AND #expires_at > :now AND #ended = :ended",
    ]
    loaded = backend.load("a")
    assert loaded is not None
    assert (loaded.ended, loaded.state) == ("gone", {"n": 2})


def test_end_reads_again_when_an_update_came_between_its_read_and_its_put(
    make: Callable[..., DynamoDBBackend],
) -> None:
    """Its put is conditional on the record it read, so the update's state is kept."""
    backend, other = make(), make()
    backend.save(record("a", n=1))
    pending = [lambda: other.update(record("a", n=2))]

    def before_put(**_: Any) -> None:
        if pending:
            assert pending.pop()() is True

    backend._connect().meta.events.register("before-call.dynamodb.PutItem", before_put)
    called = operations(backend)
    assert backend.end("a", "gone") is True
    assert called[:4] == ["GetItem", "PutItem", "GetItem", "PutItem"]
    loaded = backend.load("a")
    assert loaded is not None
    assert (loaded.ended, loaded.state) == ("gone", {"n": 2})


def test_end_loses_to_a_delete_between_its_read_and_its_put(make: Callable[..., DynamoDBBackend]) -> None:
    backend, other = make(), make()
    backend.save(record("a"))
    pending = [lambda: other.delete("a")]
    backend._connect().meta.events.register(
        "before-call.dynamodb.PutItem", lambda **_: pending.pop()() if pending else None
    )
    assert backend.end("a", "gone") is False
    assert backend.load("a") is None


def closes(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The botocore clients closed from now on."""
    from botocore.client import BaseClient

    closed: list[Any] = []
    real_close = BaseClient.close

    def close(client: BaseClient) -> None:
        closed.append(client)
        real_close(client)

    monkeypatch.setattr(BaseClient, "close", close)
    return closed


def test_a_vanished_table_closes_the_dropped_client(
    make: Callable[..., DynamoDBBackend],
    dynamodb: DynamoDBClient,
    table: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backend = make()
    backend.save(record("a"))
    client = backend._connect()
    closed = closes(monkeypatch)
    dynamodb.delete_table(TableName=table)
    with pytest.raises(BackendError, match="the table does not exist"):
        backend.join("a", "lobby")
    assert closed == [client]
    assert backend._client is None
    backend.save(record("b"))
    assert backend._connect() is not client


def test_a_client_that_finds_no_table_is_closed(
    make: Callable[..., DynamoDBBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = make(create=False)
    closed = closes(monkeypatch)
    for _ in range(2):
        with pytest.raises(BackendError, match="the table does not exist"):
            backend.load("a")
    assert len(closed) == 2
    assert backend._client is None


def test_an_unreachable_endpoint_fails_quickly_at_first_use() -> None:
    backend = from_dsn("dynamodb://Connections?region=eu-west-1&endpoint_url=http://127.0.0.1:1")
    started = time.monotonic()
    with pytest.raises(BackendError) as caught:
        backend.save(record("a"))
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert message.startswith("dynamodb table Connections in eu-west-1 (endpoint http://127.0.0.1:1): ")
    assert "Could not connect to the endpoint URL" in message
    backend.close()


def test_the_backend_works_again_after_the_server_comes_back(
    make: Callable[..., DynamoDBBackend], moto_server: MotoServer
) -> None:
    backend = make()
    backend.save(record("a"))
    with moto_server.stopped():
        started = time.monotonic()
        with pytest.raises(BackendError) as caught:
            backend.load("a")
        assert time.monotonic() - started < 10
    assert str(caught.value).startswith(f"{backend.describe()}: Could not connect to the endpoint URL")
    # The same object, no rebuild: its next calls reach the server again.
    backend.save(record("b", n=2))
    loaded = backend.load("b")
    assert loaded is not None
    assert loaded.state == {"n": 2}


@pytest.mark.parametrize(
    ("variables", "region"),
    [({"AWS_REGION": "eu-west-2"}, "eu-west-2"), ({"AWS_DEFAULT_REGION": "eu-west-3"}, "eu-west-3")],
)
def test_the_region_comes_from_either_environment_variable(
    moto_server: MotoServer,
    table: str,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    region: str,
) -> None:
    """Lambda sets both; a shell often only AWS_REGION, which botocore alone does not read."""
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    backend = from_dsn(f"dynamodb://{table}?create=true&endpoint_url={moto_server.endpoint_url}")
    assert isinstance(backend, DynamoDBBackend)
    backend.save(record("a"))
    assert backend.region == region
    backend.close()


def test_no_region_anywhere_says_where_to_set_one(
    moto_server: MotoServer, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    backend = from_dsn(f"dynamodb://{table}?endpoint_url={moto_server.endpoint_url}")
    with pytest.raises(BackendError, match=r"add region=\.\.\. to the dsn or set AWS_REGION"):
        backend.load("a")
