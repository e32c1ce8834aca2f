"""Connection records and room memberships as objects in one S3 bucket, under one key prefix.

For apps that want no database at all: S3 needs no capacity planning, and the Lambda runtime ships
boto3. Every call is one or a few HTTP requests, so it suits chats of modest size better than
busy rooms; DynamoDB is the faster AWS-native store.

Key layout, under the dsn's prefix P ("" or ending in "/"):

    P records/<id>              the record: JSON {"scope", "state", "expires_at"}, with its expiry
                                also in the metadata `x-amz-meta-expires-at` and the Expires header
    P members/<room>/<id>       an empty marker: the connection is in the room (for `members`)
    P rooms/<id>/<room>         the same membership the other way round (for `rooms` and `delete`)

A marker has no expiry of its own: it shows only while its connection's record is live.

`<id>` and `<room>` are `encode`d: percent-encoded UTF-8 with every character but letters, digits,
'-', '_' and '~' escaped ('.' and '/' included), so a segment is never '.' or '..', never holds a
'/', and two different names never share a key. Every read and listing is therefore a prefix LIST,
never a scan of the bucket. S3 is strongly consistent (since December 2020): a GET, HEAD or LIST
that starts after a write has returned sees that write.

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

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast
from urllib.parse import quote, unquote

from asgiway.backends.base import Backend, ConnectionRecord
from asgiway.backends.dsn import Dsn
from asgiway.exceptions import BackendError, ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType
    from mypy_boto3_s3.type_defs import LifecycleRuleTypeDef

#: Where each kind of object lives under the dsn's prefix (see the module docstring).
RECORDS = "records/"
MEMBERS = "members/"
ROOMS = "rooms/"
#: The metadata key of a record's expiry (Unix seconds); S3 sends it as `x-amz-meta-expires-at`.
EXPIRES_AT_METADATA = "expires-at"
#: The bucket's lifecycle rule: everything under the prefix expires this many days after creation.
LIFECYCLE_RULE_ID = "asgiway-expire-connections"
LIFECYCLE_EXPIRATION_DAYS = 1

# DeleteObjects takes at most 1,000 keys per request.
_DELETE_BATCH = 1000
# Records HEADed at once by `members` and `connections`; the HTTP pool holds them and the callers.
_HEAD_WORKERS = 16
_HTTP_POOL = 2 * _HEAD_WORKERS
# A few seconds at worst: an event must answer within API Gateway's 29 s integration timeout.
_CONNECT_TIMEOUT_SECONDS = 2
_READ_TIMEOUT_SECONDS = 5
_MAX_ATTEMPTS = 3
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
    """A connection id or room name as one key segment: injective, no '/', never '.' or '..'."""
    return quote(name, safe="").replace(".", "%2E")


def decode(segment: str) -> str:
    """The name that `encode` turned into `segment`."""
    return unquote(segment)


class S3Backend(Backend):
    """Connection records and room memberships as objects under one prefix of one S3 bucket.

    A record is one object, so `save` and `load` are one PUT and one GET. A membership is two empty
    marker objects, one per direction. `members` and `connections` LIST the markers or records and
    then check each record's expiry with a HEAD (its `x-amz-meta-expires-at`; LIST returns no
    metadata), several at a time. Writing each record's expiry into its markers instead would save
    those HEADs but make every save rewrite every marker, and a join racing a save could leave a
    marker with a stale expiry; the HEADs keep writes single and reads always right.

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
        body = record.document().encode()
        with self._s3() as s3:
            s3.put_object(
                Bucket=self.bucket,
                Key=self._record_key(record.connection_id),
                Body=body,
                ContentType="application/json",
                Metadata={EXPIRES_AT_METADATA: repr(record.expires_at)},
                Expires=datetime.fromtimestamp(record.expires_at, UTC),
            )

    def load(self, connection_id: str) -> ConnectionRecord | None:
        with self._s3() as s3:
            try:
                response = s3.get_object(Bucket=self.bucket, Key=self._record_key(connection_id))
            except s3.exceptions.NoSuchKey:
                return None
            record = ConnectionRecord.from_document(connection_id, response["Body"].read())
        return None if record.expired else record

    def delete(self, connection_id: str) -> None:
        rooms = self._list(ROOMS + encode(connection_id) + "/")
        # The record goes first: should a later batch fail, what is left is invisible.
        keys = [
            self._record_key(connection_id),
            *(self._member_key(room, connection_id) for room in rooms),
            *(self._room_key(connection_id, room) for room in rooms),
        ]
        with self._s3() as s3:
            for start in range(0, len(keys), _DELETE_BATCH):
                batch = keys[start : start + _DELETE_BATCH]
                response = s3.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
                # DeleteObjects answers 200 even when some keys failed; they are listed in Errors.
                errors = response.get("Errors", [])
                if errors:
                    first = errors[0]
                    raise BackendError(
                        f"{self.describe()}: could not delete {len(errors)} object(s) of connection"
                        f" {connection_id!r}, e.g. {first.get('Key')!r}: {first.get('Code')}"
                        f" {first.get('Message')}"
                    )

    def join(self, connection_id: str, room: str) -> None:
        # The reverse marker is written first and removed last (in `leave`), so every members/
        # marker has its rooms/ twin and `delete`, which lists rooms/, finds them all.
        with self._s3() as s3:
            s3.put_object(Bucket=self.bucket, Key=self._room_key(connection_id, room), Body=b"")
            s3.put_object(Bucket=self.bucket, Key=self._member_key(room, connection_id), Body=b"")

    def leave(self, connection_id: str, room: str) -> None:
        with self._s3() as s3:
            # DeleteObject of a missing key succeeds (204), so leave is idempotent.
            s3.delete_object(Bucket=self.bucket, Key=self._member_key(room, connection_id))
            s3.delete_object(Bucket=self.bucket, Key=self._room_key(connection_id, room))

    def members(self, room: str) -> list[str]:
        return self._live(self._list(MEMBERS + encode(room) + "/"))

    def rooms(self, connection_id: str) -> list[str]:
        if not self._live([connection_id]):
            return []
        return self._list(ROOMS + encode(connection_id) + "/")

    def connections(self) -> list[str]:
        return self._live(self._list(RECORDS))

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

    def _record_key(self, connection_id: str) -> str:
        return self.prefix + RECORDS + encode(connection_id)

    def _member_key(self, room: str, connection_id: str) -> str:
        return self.prefix + MEMBERS + encode(room) + "/" + encode(connection_id)

    def _room_key(self, connection_id: str, room: str) -> str:
        return self.prefix + ROOMS + encode(connection_id) + "/" + encode(room)

    def _list(self, under: str) -> list[str]:
        """The decoded last segments of the keys under `prefix + under`, all pages of them."""
        start = self.prefix + under
        with self._s3() as s3:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start)
            return [decode(item["Key"][len(start) :]) for page in pages for item in page.get("Contents", [])]

    def _live(self, connection_ids: list[str]) -> list[str]:
        """The ids among `connection_ids` whose record exists and has not expired."""
        with self._s3() as s3:
            assert self._heads is not None  # made with the client
            # map() cancels the HEADs not yet started as soon as one of them raises.
            alive = self._heads.map(lambda c: self._expires_at(s3, c) > time.time(), connection_ids)
            return [connection_id for connection_id, live in zip(connection_ids, alive, strict=True) if live]

    def _expires_at(self, s3: S3Client, connection_id: str) -> float:
        """The record's expiry from its metadata, or 0 when there is no record."""
        try:
            head = s3.head_object(Bucket=self.bucket, Key=self._record_key(connection_id))
        except s3.exceptions.ClientError as exc:
            # A HEAD answer has no body, so a missing key is only its status code.
            if exc.response.get("Error", {}).get("Code") == "404":
                return 0.0
            raise
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
                self._client = boto3.session.Session().client(
                    "s3", region_name=self.region, endpoint_url=self.endpoint_url, config=config
                )
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
