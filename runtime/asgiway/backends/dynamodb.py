"""The DynamoDB store: connection records and room memberships in one table, through boto3.

The table, which the CDK construct creates (or the backend itself, given `create=true` in the dsn,
for local work), is described by the constants below; the construct mirrors them:

    PARTITION_KEY  "pk", type S (HASH)
    SORT_KEY       "sk", type S (RANGE)
    TTL_ATTRIBUTE  "ttl", whole Unix seconds, with DynamoDB TTL enabled on it
    BILLING_MODE   "PAY_PER_REQUEST"

Items, where <id> and <room> are the connection id and the room name exactly as given:

    pk            sk            other attributes
    conn#<id>     conn          scope, state (JSON, S), expires_at (N), ttl,   the record
                                ended (S, only once the connection has ended)
    conn#<id>     room#<room>   ttl                                            a membership, by connection
    room#<room>   conn#<id>     ttl                                            the same, by room

Every key is a fixed tag followed by one whole value, never two values joined, so no character of
an id or a room name ('#', '/', quotes, unicode) can be taken for a separator: nothing is escaped,
and the value is the key minus its tag. The tags keep the two partitions and the two kinds of sort
key apart. Keys are limited to 1,024 bytes (DynamoDB's sort key limit), tag included.

Why this layout:

- A connection's partition holds its record and its rooms, so `rooms` is one Query and `delete`
  finds everything it must remove with one Query; `members` is one Query on the room's partition.
  No hot path scans.
- Liveness lives only in the record: `members` reads the members' records (BatchGetItem, only their
  expiry and `ended`). So `save` touches no membership, a join made before the save shows once it
  is saved, a join made after the connection ended never shows, and a membership can never
  outlive or outshine its record.
- `connections` scans with a filter. Listing every connection is rare, and the alternatives cost
  more: a partition listing all connections takes a write on every connect and disconnect on a
  single key (DynamoDB allows 1,000 writes a second per partition), and a global secondary index
  cannot be read consistently.
- `update` is one conditional PutItem: it writes only while the record exists and its expiry is to
  come, so a MESSAGE ending after a DISCONNECT elsewhere cannot bring the connection back, and only
  while the record has no `ended` other than the one written. When it has one, the failed
  condition check returns the item (ReturnValuesOnConditionCheckFailure, which DynamoDB added on
  2023-06-29, within boto3's 1.28 floor, and which consumes no read capacity), and a second
  PutItem writes the record again with that `ended`: an ended connection stays ended.
- `end` reads the record, then puts it back with `ended`, on condition that its scope, state and
  expiry are still those it read (reading again if not), so it neither loses a concurrent
  `update` nor lets one undo it; then it deletes the connection's memberships in `leave`'s order.
  That is not atomic, and need not be: once the record is marked, every membership is invisible,
  and one left behind (by a failure part way, or a `join` racing the end) is found by `delete`,
  which reads the connection's partition, or goes by TTL. Only the actions the other calls need
  are used (GetItem, PutItem, Query, BatchWriteItem): UpdateItem would take one more IAM grant.
- `join` puts the by-room item, then the by-connection item; `leave` deletes them the other way
  round. Racing joins and leaves (in two containers) can then never leave a by-room item alone,
  which `members` would list while `delete`, reading the connection's partition, never found it.
  A transaction would do the same at twice the write cost.
- DynamoDB's TTL deletes an expired item lazily, typically within a few days, so every read also
  drops items whose expiry has passed.
- Every read is strongly consistent (ConsistentRead): the MESSAGE that follows a CONNECT may run
  in another Lambda container, and must find the record the CONNECT wrote.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from asgiway.backends.base import (
    RECORD_LIFETIME_SECONDS,
    Backend,
    ConnectionRecord,
    check_reason,
    dump_json,
)
from asgiway.backends.dsn import Dsn
from asgiway.exceptions import BackendError, ConfigurationError
from asgiway.log_redaction import protect

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        KeysAndAttributesUnionTypeDef,
        TableDescriptionTypeDef,
        WriteRequestTypeDef,
        WriteRequestUnionTypeDef,
    )

    Item = dict[str, AttributeValueTypeDef]
    _GetBatch = Mapping[str, KeysAndAttributesUnionTypeDef]
    _WriteBatch = Mapping[str, Sequence[WriteRequestUnionTypeDef]]

PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "ttl"
BILLING_MODE: Final = "PAY_PER_REQUEST"

RECORD_SORT_KEY = "conn"
#: The record's attribute saying why the connection ended, absent while it is live.
ENDED = "ended"
CONNECTION_TAG = "conn#"
ROOM_TAG = "room#"

#: DynamoDB's item size limit: attribute names and values together, in UTF-8 bytes.
MAX_ITEM_BYTES = 400 * 1024
#: DynamoDB's sort key limit in bytes of UTF-8 (a partition key may take 2,048): every tagged id
#: and room name is the sort key of some item.
MAX_SORT_KEY_BYTES = 1024
#: BatchWriteItem takes at most 25 requests, BatchGetItem at most 100 keys.
BATCH_WRITE_LIMIT = 25
BATCH_GET_LIMIT = 100
#: Waits before each try of a batch's unprocessed part (DynamoDB returns, rather than fails, what a
#: throttled partition did not take): about 3 s in all, then BackendError.
_BATCH_DELAYS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
#: How often `end` reads the record again when a write changed it between its read and its put.
END_ATTEMPTS = 3
#: The condition of every write over a record: it is there and has not expired.
_UNEXPIRED = "attribute_exists(#pk) AND #expires_at > :now"
_THROTTLED = ("ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded")
_DENIED = ("AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException")

_Batch = TypeVar("_Batch", bound=Mapping[str, Any])


class DynamoDBBackend(Backend):
    """Connection records and room memberships in one DynamoDB table (see the module's docstring).

    One low-level boto3 client per backend, created on first use from a private boto3 Session
    (boto3's default session is not thread-safe; its clients are). The table is checked once, on
    first use, with DescribeTable. A table that disappears later is checked again at the next call,
    which creates it anew under `create=true`.
    """

    schemes = ("dynamodb",)

    def __init__(
        self,
        table: str,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        create: bool = False,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        max_attempts: int = 3,
    ) -> None:
        """`region` None means the AWS environment's (AWS_REGION on Lambda), resolved on first use;
        `create` creates a missing table. The timeouts (seconds) and `max_attempts` (botocore's
        standard retry mode, which backs off on throttling and connection errors) bound how long
        an unreachable or overloaded DynamoDB can hold an event: a few seconds."""
        self.table = table
        self.region = region
        self.endpoint_url = endpoint_url
        self.create = create
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self._lock = threading.Lock()
        self._client: DynamoDBClient | None = None

    @classmethod
    def from_dsn(cls, dsn: Dsn) -> DynamoDBBackend:
        if dsn.database is None:  # only a Dsn built by hand, not by Dsn.parse
            raise ConfigurationError(f"dsn {dsn.redacted!r} names no DynamoDB table")
        return cls(dsn.database, region=dsn.region, endpoint_url=dsn.endpoint_url, create=dsn.create)

    def describe(self) -> str:
        where = f"dynamodb table {self.table} in {self.region or 'the default AWS region'}"
        return f"{where} (endpoint {self.endpoint_url})" if self.endpoint_url else where

    def save(self, record: ConnectionRecord) -> None:
        item = self._record_item(record)
        with self._dynamodb() as dynamodb:
            dynamodb.put_item(TableName=self.table, Item=item)

    def update(self, record: ConnectionRecord) -> bool:
        # The record's own `ended` may end a live record, or must match the stored one.
        condition = f"{_UNEXPIRED} AND attribute_not_exists(#ended)"
        if record.ended is not None:
            condition = f"{_UNEXPIRED} AND (attribute_not_exists(#ended) OR #ended = :ended)"
        with self._dynamodb() as dynamodb:
            try:
                self._put_if(dynamodb, record, condition)
            except dynamodb.exceptions.ConditionalCheckFailedException as exc:
                # Absent, deleted, expired, or ended (botocore does not retry this error).
                # botocore parses the item the failure returns, but its stubs do not declare it.
                found = cast("Item | None", exc.response.get("Item"))
                if found is None or ENDED not in found or not _live(found, time.time()):
                    return False
                kept = replace(record, ended=found[ENDED]["S"])
                try:
                    self._put_if(dynamodb, kept, f"{_UNEXPIRED} AND #ended = :ended")
                except dynamodb.exceptions.ConditionalCheckFailedException:
                    return False  # deleted or saved anew since the first put
        return True

    def load(self, connection_id: str) -> ConnectionRecord | None:
        with self._dynamodb() as dynamodb:
            item = dynamodb.get_item(
                TableName=self.table, Key=_record_key(connection_id), ConsistentRead=True
            ).get("Item")
        if item is None or not _live(item, time.time()):
            return None
        return ConnectionRecord.from_columns(
            connection_id,
            item["scope"]["S"],
            item["state"]["S"],
            float(item["expires_at"]["N"]),
            item[ENDED]["S"] if ENDED in item else None,
        )

    def end(self, connection_id: str, reason: str) -> bool:
        check_reason(reason)
        with self._dynamodb() as dynamodb:
            for _ in range(END_ATTEMPTS):
                found = dynamodb.get_item(
                    TableName=self.table, Key=_record_key(connection_id), ConsistentRead=True
                ).get("Item")
                if found is None or not _live(found, time.time()):
                    return False
                if ENDED in found:
                    break  # ended already, for its first reason
                try:
                    dynamodb.put_item(
                        TableName=self.table,
                        Item={**found, ENDED: {"S": reason}},
                        # The record as read: `found` holds the strings and numbers compared.
                        ConditionExpression=(
                            "#scope = :scope AND #state = :state AND #expires_at = :expires_at"
                            " AND #expires_at > :now AND attribute_not_exists(#ended)"
                        ),
                        ExpressionAttributeNames=_names("scope", "state", "expires_at", ENDED),
                        ExpressionAttributeValues={
                            ":scope": found["scope"],
                            ":state": found["state"],
                            ":expires_at": found["expires_at"],
                            ":now": {"N": repr(time.time())},
                        },
                    )
                except dynamodb.exceptions.ConditionalCheckFailedException:
                    continue  # written, deleted or expired since the read: read it again
                break
            else:
                raise BackendError(
                    f"{self.describe()}: could not end connection {connection_id!r}: its record changed"
                    f" during each of {END_ATTEMPTS} attempts"
                )
        partition = CONNECTION_TAG + connection_id
        rooms = [
            item[SORT_KEY]["S"] for item in self._query(partition) if item[SORT_KEY]["S"] != RECORD_SORT_KEY
        ]
        # As `leave` does, by-connection items before by-room ones, so that a `join` racing this
        # cannot leave a by-room item alone.
        self._write([_delete(partition, room) for room in rooms])
        self._write([_delete(room, partition) for room in rooms])
        return True

    def delete(self, connection_id: str) -> None:
        partition = CONNECTION_TAG + connection_id
        requests: list[WriteRequestTypeDef] = []
        # The record sorts first ("conn" < "room#"), so it goes in the first batch: should a later
        # batch fail, what is left is memberships of a dead record, invisible, gone by TTL.
        for item in self._query(partition):
            sort_key = item[SORT_KEY]["S"]
            requests.append(_delete(partition, sort_key))
            if sort_key.startswith(ROOM_TAG):
                requests.append(_delete(sort_key, partition))
        self._write(requests)

    def join(self, connection_id: str, room: str) -> None:
        # By-room item first, by-connection item second; `leave` goes the other way round. Racing
        # joins and leaves can then never leave a by-room item alone (which `members` would list
        # and `delete` never find): its put precedes the by-connection put, which follows any
        # delete of the by-connection item that precedes the by-room delete.
        self._check_key_sizes(connection_id=connection_id, room_name=room)
        ttl = math.ceil(time.time() + RECORD_LIFETIME_SECONDS)
        connection, room_key = CONNECTION_TAG + connection_id, ROOM_TAG + room
        with self._dynamodb() as dynamodb:
            for partition, sort_key in ((room_key, connection), (connection, room_key)):
                item: Item = {
                    PARTITION_KEY: {"S": partition},
                    SORT_KEY: {"S": sort_key},
                    TTL_ATTRIBUTE: {"N": str(ttl)},
                }
                dynamodb.put_item(TableName=self.table, Item=item)

    def leave(self, connection_id: str, room: str) -> None:
        connection, room_key = CONNECTION_TAG + connection_id, ROOM_TAG + room
        with self._dynamodb() as dynamodb:
            for partition, sort_key in ((connection, room_key), (room_key, connection)):
                dynamodb.delete_item(
                    TableName=self.table, Key={PARTITION_KEY: {"S": partition}, SORT_KEY: {"S": sort_key}}
                )

    def members(self, room: str) -> list[str]:
        now = time.time()
        joined = [
            item[SORT_KEY]["S"].removeprefix(CONNECTION_TAG)
            for item in self._query(ROOM_TAG + room, TTL_ATTRIBUTE)
            if _live(item, now)
        ]
        live = self._live_connections(joined)
        return [connection_id for connection_id in joined if connection_id in live]

    def rooms(self, connection_id: str) -> list[str]:
        now = time.time()
        items = self._query(CONNECTION_TAG + connection_id, "expires_at", TTL_ATTRIBUTE, ENDED)
        if not any(item[SORT_KEY]["S"] == RECORD_SORT_KEY and _connected(item, now) for item in items):
            return []
        return [
            item[SORT_KEY]["S"].removeprefix(ROOM_TAG)
            for item in items
            if item[SORT_KEY]["S"].startswith(ROOM_TAG) and _live(item, now)
        ]

    def connections(self) -> list[str]:
        with self._dynamodb() as dynamodb:
            pages = dynamodb.get_paginator("scan").paginate(
                TableName=self.table,
                ConsistentRead=True,
                ProjectionExpression="#pk",
                FilterExpression="#sk = :record AND #expires_at > :now AND attribute_not_exists(#ended)",
                ExpressionAttributeNames=_names(PARTITION_KEY, SORT_KEY, "expires_at", ENDED),
                ExpressionAttributeValues={
                    ":record": {"S": RECORD_SORT_KEY},
                    ":now": {"N": repr(time.time())},
                },
            )
            return [
                item[PARTITION_KEY]["S"].removeprefix(CONNECTION_TAG)
                for page in pages
                for item in page["Items"]
            ]

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # The client, the table, and errors.

    @contextmanager
    def _dynamodb(self) -> Iterator[DynamoDBClient]:
        """The ready client, with botocore's errors turned into BackendError."""
        client = self._connect()
        with self._errors(client):
            yield client

    def _connect(self) -> DynamoDBClient:
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                self._client = self._open()
            return self._client

    def _open(self) -> DynamoDBClient:
        """A new client on a table that exists (created if missing and `create`) with our keys."""
        import boto3
        from botocore.config import Config

        session = boto3.session.Session()
        # botocore reads AWS_DEFAULT_REGION and ~/.aws/config, not AWS_REGION, which Lambda sets
        # beside it and which is the name many shells and other SDKs use.
        self.region = self.region or session.region_name or os.environ.get("AWS_REGION") or None
        if self.region is None:
            raise BackendError(
                f"{self.describe()}: no AWS region is configured; add region=... to the dsn "
                "or set AWS_REGION (or AWS_DEFAULT_REGION)"
            )
        client = session.client(
            "dynamodb",
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            config=Config(
                connect_timeout=self.connect_timeout,
                read_timeout=self.read_timeout,
                retries={"mode": "standard", "max_attempts": self.max_attempts},
            ),
        )
        protect(client)  # records hold the scope's headers and the state: never in a DEBUG log
        try:
            with self._errors():
                try:
                    table = client.describe_table(TableName=self.table)["Table"]
                except client.exceptions.ResourceNotFoundException:
                    if not self.create:
                        raise  # _errors says what to create
                    table = self._create_table(client)
            self._check_keys(table)
        except BaseException:
            client.close()  # its connection pool, which nothing else will use
            raise
        return client

    def _create_table(self, client: DynamoDBClient) -> TableDescriptionTypeDef:
        try:
            client.create_table(
                TableName=self.table,
                KeySchema=[
                    {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
                    {"AttributeName": SORT_KEY, "AttributeType": "S"},
                ],
                BillingMode=BILLING_MODE,
            )
            created = True
        except client.exceptions.ResourceInUseException:
            created = False  # another container is creating it this moment, and enables its TTL
        # A new table takes seconds to become ACTIVE, and TTL can be enabled only then.
        client.get_waiter("table_exists").wait(
            TableName=self.table, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
        )
        if created:
            client.update_time_to_live(
                TableName=self.table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
            )
        return client.describe_table(TableName=self.table)["Table"]

    def _check_keys(self, table: TableDescriptionTypeDef) -> None:
        keys = {key["AttributeName"]: key["KeyType"] for key in table.get("KeySchema", [])}
        types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}
        wanted = {PARTITION_KEY: "HASH", SORT_KEY: "RANGE"}
        if keys != wanted or any(types.get(name) != "S" for name in wanted):
            found = ", ".join(
                f"{name!r} (type {types.get(name, '?')}, {kind})" for name, kind in keys.items()
            )
            raise BackendError(
                f"{self.describe()}: the table's key schema is {found}, but asgiway needs"
                f" {_TABLE_SPEC}; point the dsn at another table or recreate this one"
            )

    def _drop(self, client: DynamoDBClient) -> None:
        """Forget `client`, so that the next call opens (and checks the table) anew, and close it."""
        with self._lock:
            if self._client is client:  # not one another thread has opened since
                self._client = None
        client.close()

    @contextmanager
    def _errors(self, client: DynamoDBClient | None = None) -> Iterator[None]:
        """botocore's errors as BackendError; a missing table drops `client`, the one in use."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                # Deleted, or a local emulator restarted empty: check the table again next time.
                if client is not None:
                    self._drop(client)
                raise BackendError(self._missing_table()) from exc
            raise BackendError(f"{self.describe()}: {self._explain(code, exc)}") from exc
        except BotoCoreError as exc:  # unreachable endpoint, timeouts, no credentials
            raise BackendError(f"{self.describe()}: {exc}") from exc

    def _explain(self, code: str, exc: Exception) -> str:
        if code in _THROTTLED:
            # botocore's `max_attempts` counts retries: the first call comes on top.
            return f"{exc} (still throttled after {self.max_attempts + 1} attempts)"
        if code in _DENIED:
            return (
                f"{exc}; the caller (the Lambda function's role) needs dynamodb:DescribeTable, GetItem,"
                " PutItem, DeleteItem, Query, Scan, BatchGetItem and BatchWriteItem on this table"
            )
        return str(exc)

    def _missing_table(self) -> str:
        region = f" --region {self.region}" if self.region else ""
        return (
            f"{self.describe()}: the table does not exist. Create it with {_TABLE_SPEC} (the asgiway"
            " CDK construct does), or add create=true to the dsn to have asgiway create it (for local"
            f" work). With the AWS CLI:\n"
            f"  aws dynamodb create-table{region} --table-name {self.table}"
            f" --attribute-definitions AttributeName={PARTITION_KEY},AttributeType=S"
            f" AttributeName={SORT_KEY},AttributeType=S"
            f" --key-schema AttributeName={PARTITION_KEY},KeyType=HASH AttributeName={SORT_KEY},KeyType=RANGE"
            f" --billing-mode {BILLING_MODE}\n"
            f"  aws dynamodb update-time-to-live{region} --table-name {self.table}"
            f" --time-to-live-specification Enabled=true,AttributeName={TTL_ATTRIBUTE}"
        )

    # Items.

    def _record_item(self, record: ConnectionRecord) -> Item:
        """The record's item, refused with a clear error when over DynamoDB's item limit."""
        self._check_key_sizes(connection_id=record.connection_id)
        scope, state = dump_json(record.scope), dump_json(record.state)
        item: Item = {
            PARTITION_KEY: {"S": CONNECTION_TAG + record.connection_id},
            SORT_KEY: {"S": RECORD_SORT_KEY},
            "scope": {"S": scope},
            "state": {"S": state},
            "expires_at": {"N": repr(record.expires_at)},
            TTL_ATTRIBUTE: {"N": str(math.ceil(record.expires_at))},
        }
        if record.ended is not None:
            item[ENDED] = {"S": record.ended}
        size = _item_size(item)
        if size > MAX_ITEM_BYTES:
            raise BackendError(
                f"{self.describe()}: the record of connection {record.connection_id!r} is {size:,}"
                f" bytes (scope {len(scope.encode()):,}, state {len(state.encode()):,} as JSON), over"
                f" DynamoDB's item limit of 400 KB ({MAX_ITEM_BYTES:,} bytes)"
            )
        return item

    def _put_if(self, dynamodb: DynamoDBClient, record: ConnectionRecord, condition: str) -> None:
        """PutItem of the record on `condition`, which names #pk, #expires_at, #ended and :now, and
        :ended (the record's `ended`) when the record has ended; a failed condition's exception
        carries the item found, if any."""
        values: dict[str, AttributeValueTypeDef] = {":now": {"N": repr(time.time())}}
        if record.ended is not None:
            values[":ended"] = {"S": record.ended}
        dynamodb.put_item(
            TableName=self.table,
            Item=self._record_item(record),
            ConditionExpression=condition,
            ExpressionAttributeNames=_names(PARTITION_KEY, "expires_at", ENDED),
            ExpressionAttributeValues=values,
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    def _check_key_sizes(self, **names: str) -> None:
        """Refuse, before any write, a name that cannot be a key: each tagged name is a sort key in
        one item and a partition key in another, so the smaller limit holds; a half-written
        membership (by room but not by connection) would be listed by `members` and never deleted."""
        self.check_names(**names)
        for what, name in names.items():
            tag = CONNECTION_TAG if what == "connection_id" else ROOM_TAG
            size = len((tag + name).encode())
            if size > MAX_SORT_KEY_BYTES:
                raise BackendError(
                    f"{self.describe()}: the {what.replace('_', ' ')} {name[:100]!r}... is {size:,} bytes"
                    f" of UTF-8 with its tag, over DynamoDB's key limit of {MAX_SORT_KEY_BYTES:,} bytes;"
                    f" use a shorter one"
                )

    # Reads and writes of several items.

    def _query(self, partition: str, *attributes: str) -> list[Item]:
        """The items of one partition (their sort key and `attributes`), read consistently."""
        with self._dynamodb() as dynamodb:
            pages = dynamodb.get_paginator("query").paginate(
                TableName=self.table,
                ConsistentRead=True,
                KeyConditionExpression="#pk = :pk",
                ProjectionExpression=", ".join(f"#{name}" for name in (SORT_KEY, *attributes)),
                ExpressionAttributeNames=_names(PARTITION_KEY, SORT_KEY, *attributes),
                ExpressionAttributeValues={":pk": {"S": partition}},
            )
            return [item for page in pages for item in page["Items"]]

    def _live_connections(self, connection_ids: list[str]) -> set[str]:
        """Those of `connection_ids` whose record is live and not ended, read by BatchGetItem, 100
        keys a call."""
        now, live = time.time(), set()

        def get(batch: _GetBatch, dynamodb: DynamoDBClient) -> _GetBatch:
            answer = dynamodb.batch_get_item(RequestItems=batch)
            for item in answer["Responses"].get(self.table, []):
                if _connected(item, now):
                    live.add(item[PARTITION_KEY]["S"].removeprefix(CONNECTION_TAG))
            return answer["UnprocessedKeys"]

        for start in range(0, len(connection_ids), BATCH_GET_LIMIT):
            chunk = connection_ids[start : start + BATCH_GET_LIMIT]
            batch: _GetBatch = {
                self.table: {
                    "Keys": [_record_key(connection_id) for connection_id in chunk],
                    "ConsistentRead": True,
                    "ProjectionExpression": "#pk, #expires_at, #ended",
                    "ExpressionAttributeNames": _names(PARTITION_KEY, "expires_at", ENDED),
                }
            }
            self._until_processed("BatchGetItem", get, batch)
        return live

    def _write(self, requests: list[WriteRequestTypeDef]) -> None:
        """Run the put and delete requests with BatchWriteItem, 25 a call."""

        def write(batch: _WriteBatch, dynamodb: DynamoDBClient) -> _WriteBatch:
            return dynamodb.batch_write_item(RequestItems=batch)["UnprocessedItems"]

        for start in range(0, len(requests), BATCH_WRITE_LIMIT):
            batch: _WriteBatch = {self.table: requests[start : start + BATCH_WRITE_LIMIT]}
            self._until_processed("BatchWriteItem", write, batch)

    def _until_processed(
        self, operation: str, send: Callable[[_Batch, DynamoDBClient], _Batch], batch: _Batch
    ) -> None:
        """Send `batch`, then what DynamoDB left unprocessed, backing off, until nothing is left."""
        with self._dynamodb() as dynamodb:
            for delay in _BATCH_DELAYS:
                time.sleep(delay)
                leftover = send(batch, dynamodb)
                if not leftover:
                    return
                batch = leftover
        raise BackendError(
            f"{self.describe()}: {operation} left part of a batch unprocessed after"
            f" {len(_BATCH_DELAYS)} tries over {sum(_BATCH_DELAYS):g} s (the table is throttled)"
        )


_TABLE_SPEC = (
    f"partition key {PARTITION_KEY!r} (type S, HASH), sort key {SORT_KEY!r} (type S, RANGE),"
    f" TTL enabled on attribute {TTL_ATTRIBUTE!r} and billing mode {BILLING_MODE}"
)


def _record_key(connection_id: str) -> Item:
    return {PARTITION_KEY: {"S": CONNECTION_TAG + connection_id}, SORT_KEY: {"S": RECORD_SORT_KEY}}


def _delete(partition: str, sort_key: str) -> WriteRequestTypeDef:
    return {"DeleteRequest": {"Key": {PARTITION_KEY: {"S": partition}, SORT_KEY: {"S": sort_key}}}}


def _names(*attributes: str) -> dict[str, str]:
    """Expression attribute names for `attributes`: "ttl" and many others are reserved words."""
    return {f"#{name}": name for name in attributes}


def _live(item: Item, now: float) -> bool:
    """Whether the item's expiry (the record's exact one, else its TTL) is still to come."""
    expiry = item.get("expires_at") or item[TTL_ATTRIBUTE]
    return float(expiry["N"]) > now


def _connected(record: Item, now: float) -> bool:
    """Whether the record is live and its connection has not ended: one to list and reach."""
    return _live(record, now) and ENDED not in record


def _item_size(item: Item) -> int:
    """The item's size as DynamoDB counts it: each name plus its value, strings in UTF-8 bytes, a
    number at most 21 bytes."""
    return sum(
        len(name.encode()) + (len(value["S"].encode()) if "S" in value else 21)
        for name, value in item.items()
    )
