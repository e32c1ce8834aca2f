"""Connection records and room memberships as objects in one S3 bucket, under one key prefix.

For apps that want no database at all: S3 needs no capacity planning, and the Lambda runtime ships
boto3. Every call is one or a few HTTP requests, so it suits chats of modest size better than
busy rooms; DynamoDB is the faster AWS-native store.

Key layout, under the dsn's prefix P ("" or ending in "/"):

    P records/<id>              the record: JSON {"scope", "state", "expires_at"}, with its expiry
                                also in the metadata `x-amz-meta-expires-at` and the Expires header;
                                once the connection has ended, also "ended" (why), in the JSON and
                                in the metadata `x-amz-meta-ended`
    P members/<room>/<id>       an empty marker: the connection is in the room (for `members`)
    P rooms/<id>/<room>         the same membership the other way round (for `rooms` and `delete`)

A marker has no expiry of its own: it shows only while its connection's record is live and not
ended.

`<id>` and `<room>` are `encode`d: '%', '/' and '.' are percent-encoded (%25, %2F, %2E), and so
are the controls U+0000 to U+001F and U+007F, and U+FFFE and U+FFFF (awkward in keys, and most
cannot travel in an XML body such as DeleteObjects'); every other character stays as it is, taking
its UTF-8 bytes in the key. So a segment is never '.' or '..', never holds a '/', and two
different names never share a key. Every read and listing is therefore a prefix LIST, never a scan
of the bucket. S3 is strongly consistent (since December 2020): a GET, HEAD or LIST that starts
after a write has returned sees that write.

A key is at most `MAX_KEY_BYTES` (1,024) bytes of UTF-8, prefix included, so a room name can hold
about 1,000 ASCII or 330 CJK characters, less the prefix and the connection id. A name that would
make a longer key, or that is no valid Unicode (a lone surrogate), is a BackendError before any
request: moto accepts longer keys, S3 refuses them (KeyTooLongError).

`update` is a GET, then a PutObject with If-Match on the ETag it saw (S3's conditional writes,
since November 2024): S3 writes only over the very record found live, so one deleted meanwhile is
never written back (404), one saved meanwhile never overwritten (412). It writes the `ended` of
the record it found, if any, so an ended connection stays ended.

`end` marks the record the same way, a GET then an If-Match PUT of it with `ended` (reading again
after a 412, when an `update` came between, so that neither write is lost), and then deletes the
connection's markers, members/ first, as `delete` does. That is not atomic, and need not be:
once the record says ended, every marker is invisible, and one left behind (by a failure, or a
`join` racing the end) is found by `delete`, which lists rooms/, or goes by the lifecycle rule.

Expiry: S3 lifecycle rules expire objects by whole days, counted from an object's creation and
rounded up to midnight UTC, and remove them lazily, hours or days later still. So they only clean
up; visibility comes from `expires_at`, which every read checks. The bucket must carry one rule,
`lifecycle_rule(prefix)`, that expires everything under the prefix `LIFECYCLE_EXPIRATION_DAYS`
after creation. It filters by prefix alone: a tag filter would need s3:PutObjectTagging on top.
That never removes anything live: a record is rewritten by every save and lives
`RECORD_LIFETIME_SECONDS` (2 h 10 min) past the connection's start, and a marker lives no longer
than its connection. The CDK construct sets the rule; `create=true` sets it on the buckets it makes.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast
from urllib.parse import unquote

from asgiway.backends.base import Backend, ConnectionRecord, check_reason
from asgiway.backends.dsn import Dsn
from asgiway.exceptions import BackendError, ConfigurationError
from asgiway.log_redaction import protect

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import LifecycleRuleTypeDef, PutObjectRequestTypeDef

#: Where each kind of object lives under the dsn's prefix (see the module docstring).
RECORDS = "records/"
MEMBERS = "members/"
ROOMS = "rooms/"
#: The metadata key of a record's expiry (Unix seconds); S3 sends it as `x-amz-meta-expires-at`.
EXPIRES_AT_METADATA = "expires-at"
#: The metadata key of why an ended connection ended, absent while it is live (`x-amz-meta-ended`).
ENDED_METADATA = "ended"
#: The bucket's lifecycle rule: everything under the prefix expires this many days after creation.
LIFECYCLE_RULE_ID = "asgiway-expire-connections"
LIFECYCLE_EXPIRATION_DAYS = 1
#: S3's limit on a key's length, in bytes of UTF-8 (longer ones fail with KeyTooLongError).
MAX_KEY_BYTES = 1024

# DeleteObjects takes at most 1,000 keys per request.
_DELETE_BATCH = 1000
# Waits before each try of the keys a DeleteObjects failed on for a passing reason: well under a
# second in all, since a DISCONNECT waits on it.
_DELETE_DELAYS = (0.0, 0.1, 0.3)
# The per-key DeleteObjects errors that are S3's passing trouble (S3 documents InternalError as
# "try again" and SlowDown as "reduce your request rate"), not a refusal of the request.
_PASSING_DELETE_ERRORS = frozenset({"InternalError", "ServiceUnavailable", "SlowDown"})
# Records HEADed at once by `members` and `connections`; the HTTP pool holds them and the callers.
_HEAD_WORKERS = 16
_HTTP_POOL = 2 * _HEAD_WORKERS
# A few seconds at worst: an event must answer within API Gateway's 29 s integration timeout.
_CONNECT_TIMEOUT_SECONDS = 2
_READ_TIMEOUT_SECONDS = 5
_MAX_ATTEMPTS = 3
# Answers to a conditional PutObject whose If-Match no longer holds: the record changed (412) or is
# gone (404). A 409 is a concurrent write or delete still in flight, to be retried from the GET.
_CHANGED = frozenset({"412", "PreconditionFailed"})
_GONE = frozenset({"404", "NoSuchKey"})
_NOT_MATCHED = _CHANGED | _GONE
_CONFLICT = frozenset({"409", "ConditionalRequestConflict"})
# What `encode` escapes: the key syntax ('%', '/', '.'), the controls, and XML's non-characters.
_ESCAPED = re.compile(r"[%/.\x00-\x1f\x7f\ufffe\uffff]")
_ACCESS_DENIED = frozenset(
    {"403", "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
)


def lifecycle_rule(prefix: str) -> LifecycleRuleTypeDef:
    """The lifecycle rule the bucket needs for a store under `prefix`, as S3's API spells it."""
    return {
        "ID": LIFECYCLE_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": prefix},
        "Expiration": {"Days": LIFECYCLE_EXPIRATION_DAYS},
    }


def encode(name: str) -> str:
    """A connection id or room name as one key segment: injective, no '/', never '.' or '..'.

    Only `_ESCAPED` characters are percent-encoded, as their UTF-8 bytes; the rest stay as they
    are, so a CJK character takes 3 bytes of the key's 1,024, not 9.
    """
    return _ESCAPED.sub(lambda found: "".join(f"%{byte:02X}" for byte in found[0].encode()), name)


def decode(segment: str) -> str:
    """The name that `encode` turned into `segment`."""
    return unquote(segment)


class S3Backend(Backend):
    """Connection records and room memberships as objects under one prefix of one S3 bucket.

    A record is one object, so `save` and `load` are one PUT and one GET, and `update` a GET and
    a conditional PUT. A membership is two empty marker objects, one per direction. `members` and
    `connections` LIST the markers or records and then check each record's expiry and `ended` with
    a HEAD (its `x-amz-meta-expires-at` and `x-amz-meta-ended`; LIST returns no metadata), several
    at a time. Writing each record's expiry into its markers instead would save those HEADs but
    make every save rewrite every marker, and a join racing a save could leave a marker with a
    stale expiry; the HEADs keep writes single and reads always right.

    One boto3 client serves every thread (botocore clients are thread-safe). The bucket is checked
    with a HeadBucket on first use, and again after any call that could not reach S3 or found the
    bucket gone, so the same object recovers after an outage (and `create=true` re-creates).
    """

    schemes = ("s3",)

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        create: bool = False,
    ) -> None:
        """`prefix` is "" or ends with "/"; `region` and `endpoint_url` default to the AWS
        environment's; `create` makes a missing bucket, with its lifecycle rule (local work, tests)."""
        if prefix and not prefix.endswith("/"):
            raise ConfigurationError(f"the S3 key prefix {prefix!r} must be empty or end with '/'")
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self.endpoint_url = endpoint_url
        self.create = create
        self._lock = threading.Lock()
        self._client: S3Client | None = None
        self._heads: ThreadPoolExecutor | None = None
        self._bucket_checked = False

    @classmethod
    def from_dsn(cls, dsn: Dsn) -> S3Backend:
        if dsn.database is None:  # only a Dsn built by hand, not by Dsn.parse
            raise ConfigurationError(f"dsn {dsn.redacted!r} names no S3 bucket")
        return cls(
            dsn.database, dsn.path, region=dsn.region, endpoint_url=dsn.endpoint_url, create=dsn.create
        )

    def describe(self) -> str:
        region, endpoint = self._where()
        at = f" (endpoint {endpoint})" if endpoint else ""
        return f"s3 bucket {self.bucket} prefix {self.prefix!r} in {region}{at}"

    def save(self, record: ConnectionRecord) -> None:
        key = self._record_key(record.connection_id)
        with self._s3() as s3:
            self._put_record(s3, key, record)

    def update(self, record: ConnectionRecord) -> bool:
        key = self._record_key(record.connection_id)
        with self._s3() as s3:
            for _ in range(_MAX_ATTEMPTS):
                # A GET, not a HEAD: a HEAD's bare 404 would not tell a missing bucket from a
                # missing record, and a missing bucket is an error to report.
                try:
                    found = s3.get_object(Bucket=self.bucket, Key=key)
                except s3.exceptions.NoSuchKey:
                    return False
                stored = ConnectionRecord.from_document(record.connection_id, found["Body"].read())
                if stored.expired:
                    return False
                written = replace(record, ended=stored.ended or record.ended)
                try:
                    self._put_record(s3, key, written, if_match=found["ETag"])
                except s3.exceptions.ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code", "")
                    if code in _NOT_MATCHED:
                        return False
                    if code not in _CONFLICT:
                        raise
                else:
                    return True
        raise BackendError(
            f"{self.describe()}: could not update connection {record.connection_id!r}: other writes"
            f" to its record conflicted {_MAX_ATTEMPTS} times (409 ConditionalRequestConflict)"
        )

    def load(self, connection_id: str) -> ConnectionRecord | None:
        key = self._record_key(connection_id)
        with self._s3() as s3:
            try:
                response = s3.get_object(Bucket=self.bucket, Key=key)
            except s3.exceptions.NoSuchKey:
                return None
            record = ConnectionRecord.from_document(connection_id, response["Body"].read())
        return None if record.expired else record

    def end(self, connection_id: str, reason: str) -> bool:
        check_reason(reason)
        key = self._record_key(connection_id)
        with self._s3() as s3:
            for _ in range(_MAX_ATTEMPTS):
                try:
                    found = s3.get_object(Bucket=self.bucket, Key=key)
                except s3.exceptions.NoSuchKey:
                    return False
                stored = ConnectionRecord.from_document(connection_id, found["Body"].read())
                if stored.expired:
                    return False
                if stored.ended is not None:
                    break  # ended already, for its first reason
                try:
                    self._put_record(s3, key, replace(stored, ended=reason), if_match=found["ETag"])
                except s3.exceptions.ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code", "")
                    if code in _GONE:
                        return False
                    if code not in _CHANGED | _CONFLICT:
                        raise
                else:
                    break
            else:
                raise BackendError(
                    f"{self.describe()}: could not end connection {connection_id!r}: other writes to"
                    f" its record came between its read and its write {_MAX_ATTEMPTS} times"
                )
        self._remove(connection_id)
        return True

    def delete(self, connection_id: str) -> None:
        # The record goes first: should anything later fail, what is left is invisible.
        self._remove(connection_id, self._record_key(connection_id))

    def _remove(self, connection_id: str, *first: str) -> None:
        """Delete the keys `first`, then every membership marker of the connection."""
        rooms = self._list(self._key(ROOMS, encode(connection_id), "/"))
        # The rooms/ markers go only once every members/ marker is gone: a removal that failed part
        # way then still finds, when repeated, each marker it has to remove (as `join` and `leave`
        # keep it).
        markers = [self._member_key(room, connection_id) for room in rooms]
        twins = [self._room_key(connection_id, room) for room in rooms]
        with self._s3() as s3:
            for keys in ([*first, *markers], twins):
                for start in range(0, len(keys), _DELETE_BATCH):
                    self._delete_batch(s3, connection_id, keys[start : start + _DELETE_BATCH])

    def join(self, connection_id: str, room: str) -> None:
        # The reverse marker is written first and removed last (in `leave`), so every members/
        # marker has its rooms/ twin and `delete`, which lists rooms/, finds them all. Both keys
        # are checked before either is written.
        room_key, member_key = self._room_key(connection_id, room), self._member_key(room, connection_id)
        with self._s3() as s3:
            s3.put_object(Bucket=self.bucket, Key=room_key, Body=b"")
            s3.put_object(Bucket=self.bucket, Key=member_key, Body=b"")

    def leave(self, connection_id: str, room: str) -> None:
        room_key, member_key = self._room_key(connection_id, room), self._member_key(room, connection_id)
        with self._s3() as s3:
            # DeleteObject of a missing key succeeds (204), so leave is idempotent.
            s3.delete_object(Bucket=self.bucket, Key=member_key)
            s3.delete_object(Bucket=self.bucket, Key=room_key)

    def members(self, room: str) -> list[str]:
        return self._live(self._list(self._key(MEMBERS, encode(room), "/")))

    def rooms(self, connection_id: str) -> list[str]:
        if not self._live([connection_id]):
            return []
        return self._list(self._key(ROOMS, encode(connection_id), "/"))

    def connections(self) -> list[str]:
        return self._live(self._list(self._key(RECORDS)))

    def close(self) -> None:
        with self._lock:
            if self._heads is not None:
                self._heads.shutdown()
                self._heads = None
            if self._client is not None:
                self._client.close()
                self._client = None

    def _where(self) -> tuple[str, str | None]:
        """The region and endpoint: as botocore resolved them once connected, else as given."""
        client = self._client
        if client is not None:
            return client.meta.region_name, client.meta.endpoint_url
        return self.region or "the AWS environment's region", self.endpoint_url

    def _key(self, *parts: str) -> str:
        """The key (or key prefix) `prefix + parts`, once sure S3 can take it."""
        key = self.prefix + "".join(parts)
        try:
            size = len(key.encode())
        except UnicodeEncodeError:
            raise BackendError(
                f"{self.describe()}: the key {key!r} is no valid Unicode (S3 keys are UTF-8);"
                " connection ids and room names must not hold lone surrogates"
            ) from None
        if size > MAX_KEY_BYTES:
            raise BackendError(
                f"{self.describe()}: the key {key[:100]!r}... is {size} bytes of UTF-8, over S3's"
                f" limit of {MAX_KEY_BYTES}; use a shorter room name, connection id or key prefix"
            )
        return key

    def _record_key(self, connection_id: str) -> str:
        return self._key(RECORDS, encode(connection_id))

    def _member_key(self, room: str, connection_id: str) -> str:
        return self._key(MEMBERS, encode(room), "/", encode(connection_id))

    def _room_key(self, connection_id: str, room: str) -> str:
        return self._key(ROOMS, encode(connection_id), "/", encode(room))

    def _put_record(self, s3: S3Client, key: str, record: ConnectionRecord, *, if_match: str = "") -> None:
        """PutObject of the record at `key`; with `if_match`, only over the object of that ETag."""
        metadata = {EXPIRES_AT_METADATA: repr(record.expires_at)}
        if record.ended is not None:
            metadata[ENDED_METADATA] = record.ended
        request: PutObjectRequestTypeDef = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": record.document().encode(),
            "ContentType": "application/json",
            "Metadata": metadata,
            "Expires": datetime.fromtimestamp(record.expires_at, UTC),
        }
        if if_match:
            request["IfMatch"] = if_match
        s3.put_object(**request)

    def _delete_batch(self, s3: S3Client, connection_id: str, keys: list[str]) -> None:
        """DeleteObjects of `keys`, trying again those S3 failed on for a passing reason.

        DeleteObjects answers 200 even when some keys failed: they are listed in its Errors, each
        with its own code, and botocore's retries never see them. An InternalError or a SlowDown
        on a key is S3's passing trouble, worth a new try of that key alone; a refusal such as
        AccessDenied is not, and ends the delete at once.
        """
        for delay in _DELETE_DELAYS:
            time.sleep(delay)
            response = s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True}
            )
            errors = response.get("Errors", [])
            if not errors:
                return
            keys = [error.get("Key", "") for error in errors]
            refusals = [error for error in errors if error.get("Code") not in _PASSING_DELETE_ERRORS]
            if refusals:
                break
        example = (refusals or errors)[0]
        code = example.get("Code", "")
        problem = (
            f"{self.describe()}: could not delete {len(errors)} object(s) of connection {connection_id!r},"
            f" e.g. {example.get('Key')!r}: {code} {example.get('Message')}"
        )
        if code in _ACCESS_DENIED:
            raise BackendError(
                f"{problem}. The caller needs s3:DeleteObject on arn:aws:s3:::{self.bucket}/{self.prefix}*"
            )
        if not refusals:
            raise BackendError(f"{problem} (still failing after {len(_DELETE_DELAYS)} tries)")
        raise BackendError(problem)

    def _list(self, start: str) -> list[str]:
        """The decoded last segments of the keys under the key prefix `start`, all pages of them."""
        with self._s3() as s3:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
            return [decode(item["Key"][len(start) :]) for page in pages for item in page.get("Contents", [])]

    def _live(self, connection_ids: list[str]) -> list[str]:
        """The ids among `connection_ids` whose record exists, has not expired and has not ended."""
        with self._s3() as s3:
            assert self._heads is not None  # made with the client
            # map() cancels the HEADs not yet started as soon as one of them raises.
            alive = self._heads.map(lambda c: self._live_until(s3, c) > time.time(), connection_ids)
            return [connection_id for connection_id, live in zip(connection_ids, alive, strict=True) if live]

    def _live_until(self, s3: S3Client, connection_id: str) -> float:
        """The record's expiry from its metadata, or 0 when there is no record or it has ended."""
        try:
            head = s3.head_object(Bucket=self.bucket, Key=self._record_key(connection_id))
        except s3.exceptions.ClientError as exc:
            # A HEAD answer has no body, so a missing key is only its status code.
            if exc.response.get("Error", {}).get("Code") == "404":
                return 0.0
            raise
        if ENDED_METADATA in head["Metadata"]:
            return 0.0
        return float(head["Metadata"].get(EXPIRES_AT_METADATA, 0.0))

    @contextmanager
    def _s3(self) -> Iterator[S3Client]:
        """The client, connected and the bucket checked, with boto3's errors made BackendErrors."""
        try:
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError:
            raise BackendError(
                f"{self.describe()}: boto3 is not installed; pip install 'asgiway[s3]'"
                " (the Lambda Python runtime includes it)"
            ) from None

        try:
            yield self._connect()
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc) from exc

    def _connect(self) -> S3Client:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                config = Config(
                    connect_timeout=_CONNECT_TIMEOUT_SECONDS,
                    read_timeout=_READ_TIMEOUT_SECONDS,
                    retries={"mode": "standard", "max_attempts": _MAX_ATTEMPTS},
                    max_pool_connections=_HTTP_POOL,
                    # Local endpoints (moto, MinIO) have no per-bucket DNS names.
                    s3={"addressing_style": "path" if self.endpoint_url else "auto"},
                )
                # A private session: boto3's default one is shared and not thread-safe.
                client = boto3.session.Session().client(
                    "s3", region_name=self.region, endpoint_url=self.endpoint_url, config=config
                )
                self._client = protect(client)  # no record body or session token in a DEBUG log
                self._heads = ThreadPoolExecutor(_HEAD_WORKERS, thread_name_prefix="asgiway-s3")
            if not self._bucket_checked:
                self._check_bucket(self._client)
                self._bucket_checked = True
            return self._client

    def _check_bucket(self, s3: S3Client) -> None:
        """HeadBucket: 200 when the bucket exists and we may use it, 404 when it does not."""
        try:
            s3.head_bucket(Bucket=self.bucket)
        except s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "404" or not self.create:
                raise
            self._create_bucket(s3)

    def _create_bucket(self, s3: S3Client) -> None:
        region = s3.meta.region_name
        try:
            # us-east-1 is the one region that refuses its own name as a LocationConstraint.
            if region == "us-east-1":
                s3.create_bucket(Bucket=self.bucket)
            else:
                s3.create_bucket(
                    Bucket=self.bucket,
                    CreateBucketConfiguration={
                        "LocationConstraint": cast("BucketLocationConstraintType", region)
                    },
                )
        except s3.exceptions.BucketAlreadyOwnedByYou:
            return  # another thread or container made it first, and set its rule
        s3.put_bucket_lifecycle_configuration(
            Bucket=self.bucket, LifecycleConfiguration={"Rules": [lifecycle_rule(self.prefix)]}
        )

    def _error(self, exc: Exception) -> BackendError:
        """The BackendError for a boto3 error, saying what to do about it."""
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, NoCredentialsError

        where = self.describe()
        if isinstance(exc, ConnectionError | HTTPClientError):
            self._bucket_checked = False  # whatever happened meanwhile, check again once back
            return BackendError(f"{where}: cannot reach S3 ({exc})")
        if isinstance(exc, NoCredentialsError):
            return BackendError(f"{where}: no AWS credentials (on Lambda they come from the function's role)")
        if not isinstance(exc, ClientError):
            return BackendError(f"{where}: {exc}")
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        if code in ("404", "NoSuchBucket"):
            self._bucket_checked = False
            rule = f"expires objects under prefix {self.prefix!r} after {LIFECYCLE_EXPIRATION_DAYS} day"
            return BackendError(
                f"{where}: the bucket does not exist. Create bucket {self.bucket!r} in"
                f" {self._where()[0]} with a lifecycle rule that {rule}"
                " (the asgiway CDK construct WebSocketAsgiApp with backend='s3' does), or add"
                " create=true to the dsn to have it created (for local work and tests)"
            )
        if code in _ACCESS_DENIED:
            return BackendError(
                f"{where}: access denied ({code}). The caller needs s3:ListBucket on bucket"
                f" {self.bucket!r} and s3:GetObject, s3:PutObject, s3:DeleteObject on"
                f" arn:aws:s3:::{self.bucket}/{self.prefix}*"
            )
        return BackendError(f"{where}: S3 answered {code or 'an error'}: {error.get('Message', exc)}")
