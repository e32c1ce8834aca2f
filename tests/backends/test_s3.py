"""The S3 store beyond the conformance suite: its bucket check, key layout, expiry and errors.

Every test talks to moto in server mode over real HTTP, in a bucket of its own, and looks at the
bucket directly with a plain boto3 client to see what the backend really wrote.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

import boto3
import pytest

from asgiway.backends import ConnectionRecord, from_dsn
from asgiway.backends import s3 as s3_module
from asgiway.backends.s3 import S3Backend, lifecycle_rule
from asgiway.exceptions import BackendError
from tests.support.aws_proxy import Answer, AwsProxy, Forward, Handler, Request
from tests.support.services import MotoServer

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "connections/"


@pytest.fixture
def bucket() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3(moto_server: MotoServer) -> S3Client:
    """A plain client on moto, to look behind the backend's back."""
    return boto3.session.Session().client(
        "s3", region_name="us-east-1", endpoint_url=moto_server.endpoint_url
    )


def s3_backend(
    moto_server: MotoServer, bucket: str, *, create: bool = True, region: str = "us-east-1"
) -> S3Backend:
    query = f"region={region}&endpoint_url={moto_server.endpoint_url}" + ("&create=true" if create else "")
    backend = from_dsn(f"s3://{bucket}/{PREFIX}?{query}")
    assert isinstance(backend, S3Backend)
    return backend


@pytest.fixture
def backend(moto_server: MotoServer, bucket: str) -> Iterator[S3Backend]:
    made = s3_backend(moto_server, bucket)
    yield made
    made.close()


def record(connection_id: str, *, expires_in: float = 3600.0, **state: Any) -> ConnectionRecord:
    return ConnectionRecord(
        connection_id, {"type": "websocket", "path": "/ws"}, state, time.time() + expires_in
    )


def all_keys(s3: S3Client, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def calls_to(backend: S3Backend, operation: str) -> list[str]:
    """Records each later call of the S3 `operation` the backend makes (connecting it first)."""
    calls: list[str] = []
    client = backend._connect()
    client.meta.events.register(f"before-call.s3.{operation}", lambda **_: calls.append(operation))
    return calls


def requests_of(backend: S3Backend) -> list[str]:
    """Records the name of each later S3 operation the backend calls (connecting it first)."""
    calls: list[str] = []
    client = backend._connect()
    client.meta.events.register(
        "before-call.s3", lambda event_name, **_: calls.append(event_name.split(".")[-1])
    )
    return calls


def before_put(backend: S3Backend, action: Callable[[], object]) -> None:
    """Runs `action` once, just before the backend's next PutObject is sent."""
    pending = [action]

    def once(**_: Any) -> None:
        if pending:
            pending.pop()()

    backend._connect().meta.events.register("before-call.s3.PutObject", once)


class _Answer:
    """Just enough of an HTTP response for botocore to raise S3's error from a parsed one."""

    status_code = 409


def conflicting_puts(backend: S3Backend, times: int) -> list[int]:
    """Answers the backend's next `times` PutObjects as S3 does a conditional write racing another
    write (409 ConditionalRequestConflict, to be retried), without sending them; one 409 is
    appended to the list returned for each."""
    answered: list[int] = []

    def conflict(**_: Any) -> Any:
        if len(answered) == times:
            return None  # send it
        answered.append(409)
        # A before-call handler's answer stands in for S3's: (http response, parsed response).
        return _Answer(), {
            "Error": {"Code": "ConditionalRequestConflict", "Message": "A conflicting operation occurred"},
            "ResponseMetadata": {"HTTPStatusCode": 409},
        }

    backend._connect().meta.events.register("before-call.s3.PutObject", conflict)
    return answered


# Setup


def test_a_missing_bucket_says_what_to_create(moto_server: MotoServer, bucket: str, s3: S3Client) -> None:
    backend = s3_backend(moto_server, bucket, create=False)  # builds without contacting S3
    with pytest.raises(BackendError) as raised:
        backend.load("conn-1")
    message = str(raised.value)
    assert f"s3 bucket {bucket} prefix 'connections/' in us-east-1" in message
    assert f"Create bucket {bucket!r} in us-east-1" in message
    assert "lifecycle rule that expires objects under prefix 'connections/' after 1 day" in message
    assert "create=true" in message
    # The failed check is not remembered: once the bucket is there, the same object works.
    s3.create_bucket(Bucket=bucket)
    assert backend.load("conn-1") is None
    backend.close()


def test_create_true_makes_the_bucket_in_its_region_with_the_lifecycle_rule(
    moto_server: MotoServer, bucket: str, s3: S3Client
) -> None:
    backend = s3_backend(moto_server, bucket, region="eu-west-1")
    backend.save(record("conn-1"))
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == "eu-west-1"
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    expected = lifecycle_rule(PREFIX)
    assert (rule["ID"], rule["Status"]) == (expected["ID"], "Enabled")
    assert rule["Filter"] == {"Prefix": PREFIX}
    assert rule["Expiration"] == {"Days": 1}
    backend.close()


def test_the_bucket_is_checked_once(backend: S3Backend) -> None:
    head_buckets = calls_to(backend, "HeadBucket")
    for i in range(3):
        backend.save(record(f"c{i}"))
        backend.join(f"c{i}", "lobby")
        backend.members("lobby")
        backend.rooms(f"c{i}")
        backend.connections()
        backend.leave(f"c{i}", "lobby")
        backend.delete(f"c{i}")
    assert head_buckets == []


def test_a_bucket_deleted_under_the_backend_is_made_again(
    backend: S3Backend, bucket: str, s3: S3Client
) -> None:
    backend.save(record("conn-1"))
    s3.delete_object(Bucket=bucket, Key=f"{PREFIX}records/conn-1")
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(BackendError, match="the bucket does not exist"):
        backend.save(record("conn-1"))
    backend.save(record("conn-1"))  # checked again, and create=true makes it
    assert backend.load("conn-1") is not None


def test_describe() -> None:
    backend = from_dsn("s3://t-x/connections/?region=us-east-1&endpoint_url=http://127.0.0.1:9")
    assert (
        backend.describe() == "s3 bucket t-x prefix 'connections/' in us-east-1 (endpoint http://127.0.0.1:9)"
    )
    assert from_dsn("s3://t-x").describe() == "s3 bucket t-x prefix '' in the AWS environment's region"


# Keys and expiry


def test_key_layout(backend: S3Backend, bucket: str, s3: S3Client) -> None:
    backend.save(record("Aa0="))
    backend.join("Aa0=", "lobby")
    backend.join("Aa0=", "a.b/c%d 中\n")
    assert sorted(all_keys(s3, bucket)) == [
        f"{PREFIX}members/a%2Eb%2Fc%25d 中%0A/Aa0=",
        f"{PREFIX}members/lobby/Aa0=",
        f"{PREFIX}records/Aa0=",
        f"{PREFIX}rooms/Aa0=/a%2Eb%2Fc%25d 中%0A",
        f"{PREFIX}rooms/Aa0=/lobby",
    ]


ESCAPES = [
    "..",
    ".",
    "a/b",
    "../../x",
    "/",
    "%2E%2E",
    "%41",
    "A",
    "a%2Fb",
    "ünï/..",
    "~",
    "%",
    "%25",
    "%%2",
    "中文/..",
    "中文%E4%B8%AD",
    "😀",
    "é",
    "e\u0301",  # the same é, decomposed: S3 keys are bytes, so a key of its own
    " +?#&=;:@\\{^}`]\"><[|'*!()$,",
    "\r\n\t\x00\x1f\x7f",
    "\r",
    "\n",
    "\ufffe\uffff\u2028\u0085\ufeff",
]


#: What `encode` must escape: the key syntax, and what no XML body (DeleteObjects') can carry.
MUST_ESCAPE = {"%", "/", ".", *map(chr, range(0x20)), "\x7f", "\ufffe", "\uffff"}


@pytest.mark.parametrize("name", [*ESCAPES, "", "a" * 300, "".join(map(chr, range(0x3000)))])
def test_encode_is_one_segment_and_decodes_back(name: str) -> None:
    segment = s3_module.encode(name)
    assert s3_module.decode(segment) == name
    assert "/" not in segment
    assert segment not in (".", "..")
    assert not MUST_ESCAPE - {"%"} & set(segment)
    # Everything else stays as it is: with the escapes taken out, what is left is the name's own.
    assert re.sub("%[0-9A-F]{2}", "", segment) == "".join(c for c in name if c not in MUST_ESCAPE)


def test_encode_is_injective() -> None:
    names = {*ESCAPES, *(s3_module.encode(name) for name in ESCAPES)}
    assert len({s3_module.encode(name) for name in names}) == len(names)


def test_ids_and_rooms_stay_inside_the_prefix_and_apart(
    backend: S3Backend, bucket: str, s3: S3Client
) -> None:
    for name in ESCAPES:
        backend.save(record(name, name=name))
        backend.join(name, name)
    keys = all_keys(s3, bucket)
    assert len(keys) == 3 * len(ESCAPES)  # no two names share a key
    for key in keys:
        assert key.startswith(PREFIX)
        assert not {".", ".."} & set(key.split("/")), key
        assert len(key.split("/")) in (3, 4), key  # no name adds a level
    for name in ESCAPES:
        loaded = backend.load(name)
        assert loaded is not None
        assert loaded.state == {"name": name}
        assert backend.members(name) == [name]
        assert backend.rooms(name) == [name]
    assert sorted(backend.connections()) == sorted(ESCAPES)


def test_a_room_name_of_cjk_characters_keeps_its_characters_in_the_key(
    backend: S3Backend, bucket: str, s3: S3Client
) -> None:
    room = "聊天室" * 110  # 990 bytes of UTF-8; percent-encoded, 2,970 would overflow a key
    backend.save(record("Aa0="))
    backend.join("Aa0=", room)
    assert backend.members(room) == ["Aa0="]
    assert backend.rooms("Aa0=") == [room]
    assert f"{PREFIX}members/{room}/Aa0=" in all_keys(s3, bucket)
    backend.delete("Aa0=")
    assert all_keys(s3, bucket) == []


def test_a_key_over_1024_bytes_is_refused_before_any_request(
    backend: S3Backend, bucket: str, s3: S3Client
) -> None:
    backend.save(record("Aa0="))
    # The longest key is "connections/members/<room>/Aa0=": 25 bytes besides the room's.
    at_the_limit = "中" * 333
    backend.join("Aa0=", at_the_limit)
    assert len(f"{PREFIX}members/{at_the_limit}/Aa0=".encode()) == 1024
    assert backend.members(at_the_limit) == ["Aa0="]
    requests = requests_of(backend)
    over = at_the_limit + "a"
    for call in (
        lambda: backend.join("Aa0=", over),  # its rooms/ key would fit: neither is written
        lambda: backend.leave("Aa0=", over),
        lambda: backend.members("中" * 400),
        lambda: backend.save(record("中" * 400)),
        lambda: backend.update(record("中" * 400)),
        lambda: backend.load("中" * 400),
    ):
        with pytest.raises(BackendError, match="over S3's limit of 1024") as raised:
            call()
        assert str(raised.value).startswith(f"s3 bucket {bucket} prefix 'connections/'")
    assert requests == []
    assert backend.rooms("Aa0=") == [at_the_limit]


def test_a_name_that_is_no_valid_unicode_is_refused_before_any_request(backend: S3Backend) -> None:
    requests = requests_of(backend)
    with pytest.raises(BackendError, match="no valid Unicode"):
        backend.join("Aa0=", "lone \ud800 surrogate")
    assert requests == []


def test_an_expired_record_is_invisible_though_its_object_remains(
    backend: S3Backend, bucket: str, s3: S3Client
) -> None:
    backend.save(record("old", expires_in=-1))
    backend.join("old", "lobby")
    # S3 removes nothing before the lifecycle rule's day is up: the object is still there.
    s3.head_object(Bucket=bucket, Key=f"{PREFIX}records/old")
    assert backend.load("old") is None
    assert backend.connections() == []
    assert backend.members("lobby") == []
    assert backend.rooms("old") == []


def test_a_record_carries_its_expiry_in_metadata_and_expires(
    backend: S3Backend, bucket: str, s3: S3Client
) -> None:
    saved = record("conn-1", user="ada")
    backend.save(saved)
    head = s3.head_object(Bucket=bucket, Key=f"{PREFIX}records/conn-1")
    assert float(head["Metadata"]["expires-at"]) == saved.expires_at
    expires = parsedate_to_datetime(head["ResponseMetadata"]["HTTPHeaders"]["expires"])
    assert expires.timestamp() == int(saved.expires_at)
    assert head["ContentType"] == "application/json"
    body = s3.get_object(Bucket=bucket, Key=f"{PREFIX}records/conn-1")["Body"].read()
    assert json.loads(body) == {
        "scope": saved.scope,
        "state": {"user": "ada"},
        "expires_at": saved.expires_at,
    }


# Update


def test_update_writes_only_over_the_record_it_found_live(
    backend: S3Backend, bucket: str, s3: S3Client
) -> None:
    backend.save(record("conn-1", count=1))
    etag = s3.get_object(Bucket=bucket, Key=f"{PREFIX}records/conn-1")["ETag"]
    sent: list[dict[str, Any]] = []
    backend._connect().meta.events.register(
        "before-call.s3.PutObject", lambda params, **_: sent.append(params["headers"])
    )
    updated = record("conn-1", expires_in=7200, count=2)
    assert backend.update(updated) is True
    assert [headers["If-Match"] for headers in sent] == [etag]
    head = s3.head_object(Bucket=bucket, Key=f"{PREFIX}records/conn-1")
    assert float(head["Metadata"]["expires-at"]) == updated.expires_at
    assert head["ContentType"] == "application/json"
    assert backend.load("conn-1") == updated


def test_update_of_a_dead_record_sends_no_write(backend: S3Backend) -> None:
    backend.save(record("old", expires_in=-1))
    requests = requests_of(backend)
    assert backend.update(record("old")) is False
    assert backend.update(record("never-saved")) is False
    assert requests == ["GetObject", "GetObject"]


def test_update_loses_to_a_delete_between_its_get_and_its_put(
    backend: S3Backend, bucket: str, s3: S3Client
) -> None:
    backend.save(record("conn-1", count=1))
    before_put(backend, lambda: s3.delete_object(Bucket=bucket, Key=f"{PREFIX}records/conn-1"))
    assert backend.update(record("conn-1", count=2)) is False  # S3: 404 NoSuchKey
    assert all_keys(s3, bucket) == []


def test_update_loses_to_a_save_between_its_get_and_its_put(backend: S3Backend, bucket: str) -> None:
    backend.save(record("conn-1", count=1))
    other = S3Backend(bucket, PREFIX, region="us-east-1", endpoint_url=backend.endpoint_url)
    saved = record("conn-1", count=3)
    before_put(backend, lambda: other.save(saved))
    assert backend.update(record("conn-1", count=2)) is False  # S3: 412 PreconditionFailed
    assert backend.load("conn-1") == saved
    other.close()


def test_update_retries_a_conflicting_write_from_its_get(backend: S3Backend) -> None:
    backend.save(record("conn-1", count=1))
    requests = requests_of(backend)
    conflicts = conflicting_puts(backend, times=1)
    assert backend.update(record("conn-1", count=2)) is True
    # The first PutObject is answered 409 by the fake, ahead of the recorder.
    assert conflicts == [409]
    assert requests == ["GetObject", "GetObject", "PutObject"]
    loaded = backend.load("conn-1")
    assert loaded is not None
    assert loaded.state == {"count": 2}


def test_update_gives_up_after_repeated_conflicts(backend: S3Backend) -> None:
    backend.save(record("conn-1", count=1))
    conflicts = conflicting_puts(backend, times=10)
    with pytest.raises(BackendError, match="conflicted 3 times"):
        backend.update(record("conn-1", count=2))
    assert conflicts == [409, 409, 409]
    loaded = backend.load("conn-1")
    assert loaded is not None
    assert loaded.state == {"count": 1}


def test_update_reports_a_missing_bucket(moto_server: MotoServer, bucket: str, s3: S3Client) -> None:
    backend = s3_backend(moto_server, bucket, create=False)
    s3.create_bucket(Bucket=bucket)
    backend.save(record("conn-1"))
    s3.delete_object(Bucket=bucket, Key=f"{PREFIX}records/conn-1")
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(BackendError, match="the bucket does not exist"):
        backend.update(record("conn-1"))
    backend.close()


# Ended connections


def test_end_marks_the_record_and_its_metadata_and_removes_the_markers(
    backend: S3Backend, bucket: str, s3: S3Client
) -> None:
    saved = record("conn-1", user="ada")
    backend.save(saved)
    backend.save(record("conn-2"))
    backend.join("conn-1", "lobby")
    backend.join("conn-2", "lobby")
    etag = s3.get_object(Bucket=bucket, Key=f"{PREFIX}records/conn-1")["ETag"]
    sent: list[dict[str, Any]] = []
    backend._connect().meta.events.register(
        "before-call.s3.PutObject", lambda params, **_: sent.append(params["headers"])
    )
    assert backend.end("conn-1", "gone") is True
    assert [headers["If-Match"] for headers in sent] == [etag]
    head = s3.head_object(Bucket=bucket, Key=f"{PREFIX}records/conn-1")
    assert head["Metadata"] == {"expires-at": repr(saved.expires_at), "ended": "gone"}
    body = s3.get_object(Bucket=bucket, Key=f"{PREFIX}records/conn-1")["Body"].read()
    assert json.loads(body) == {
        "ended": "gone",
        "scope": saved.scope,
        "state": {"user": "ada"},
        "expires_at": saved.expires_at,
    }
    assert sorted(all_keys(s3, bucket)) == [
        f"{PREFIX}members/lobby/conn-2",
        f"{PREFIX}records/conn-1",
        f"{PREFIX}records/conn-2",
        f"{PREFIX}rooms/conn-2/lobby",
    ]


def test_update_of_an_ended_record_keeps_its_metadata(backend: S3Backend, bucket: str, s3: S3Client) -> None:
    backend.save(record("conn-1", count=1))
    assert backend.end("conn-1", "closed") is True
    assert backend.update(record("conn-1", count=2)) is True
    head = s3.head_object(Bucket=bucket, Key=f"{PREFIX}records/conn-1")
    assert head["Metadata"]["ended"] == "closed"
    loaded = backend.load("conn-1")
    assert loaded is not None
    assert (loaded.ended, loaded.state) == ("closed", {"count": 2})


def test_end_reads_again_when_an_update_came_between_its_get_and_its_put(
    backend: S3Backend, bucket: str
) -> None:
    backend.save(record("conn-1", count=1))
    other = S3Backend(bucket, PREFIX, region="us-east-1", endpoint_url=backend.endpoint_url)
    before_put(backend, lambda: other.update(record("conn-1", count=2)))
    requests = requests_of(backend)
    assert backend.end("conn-1", "gone") is True  # the first PutObject: 412 PreconditionFailed
    assert requests[:4] == ["GetObject", "PutObject", "GetObject", "PutObject"]
    loaded = backend.load("conn-1")
    assert loaded is not None
    assert (loaded.ended, loaded.state) == ("gone", {"count": 2})
    other.close()


def test_end_loses_to_a_delete_between_its_get_and_its_put(
    backend: S3Backend, bucket: str, s3: S3Client
) -> None:
    backend.save(record("conn-1"))
    before_put(backend, lambda: s3.delete_object(Bucket=bucket, Key=f"{PREFIX}records/conn-1"))
    assert backend.end("conn-1", "gone") is False  # S3: 404 NoSuchKey
    assert all_keys(s3, bucket) == []


def test_end_gives_up_after_repeated_conflicts(backend: S3Backend) -> None:
    backend.save(record("conn-1"))
    backend.join("conn-1", "lobby")
    conflicts = conflicting_puts(backend, times=10)
    with pytest.raises(BackendError, match="came between its read and its write 3 times"):
        backend.end("conn-1", "gone")
    assert conflicts == [409, 409, 409]
    loaded = backend.load("conn-1")
    assert loaded is not None
    assert loaded.ended is None
    assert backend.members("lobby") == ["conn-1"]


def test_delete_removes_everything_in_batches(
    backend: S3Backend, bucket: str, s3: S3Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3_module, "_DELETE_BATCH", 3)
    backend.save(record("conn-1"))
    for room in ("a", "b", "c", "d"):
        backend.join("conn-1", room)
    batches = calls_to(backend, "DeleteObjects")
    backend.delete("conn-1")
    # The record and the 4 members/ markers, 3 at a time; then the 4 rooms/ markers, 3 at a time.
    assert len(batches) == 4
    assert all_keys(s3, bucket) == []


def deny_deleting(s3: S3Client, bucket: str, keys: str) -> None:
    """A bucket policy that refuses s3:DeleteObject on the keys matching `keys` (moto enforces it
    key by key in DeleteObjects, as S3 does)."""
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:DeleteObject",
        "Resource": f"arn:aws:s3:::{bucket}/{keys}",
    }
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )


def test_delete_of_keys_s3_refuses_is_a_clear_error_and_can_be_repeated(
    backend: S3Backend, bucket: str, s3: S3Client
) -> None:
    backend.save(record("conn-1"))
    backend.join("conn-1", "lobby")
    backend.save(record("conn-2"))
    backend.join("conn-2", "lobby")
    deny_deleting(s3, bucket, f"{PREFIX}members/*")

    with pytest.raises(BackendError) as raised:
        backend.delete("conn-1")

    assert str(raised.value) == (
        f"{backend.describe()}: could not delete 1 object(s) of connection 'conn-1', e.g."
        f" '{PREFIX}members/lobby/conn-1': AccessDenied Access Denied. The caller needs"
        f" s3:DeleteObject on arn:aws:s3:::{bucket}/{PREFIX}*"
    )
    # The record went: without it, the marker left behind shows nowhere. Its rooms/ twin stays
    # until the marker is gone, so that a delete repeated later still finds the marker.
    conn_2 = [f"{PREFIX}members/lobby/conn-2", f"{PREFIX}records/conn-2", f"{PREFIX}rooms/conn-2/lobby"]
    assert sorted(all_keys(s3, bucket)) == sorted(
        [*conn_2, f"{PREFIX}members/lobby/conn-1", f"{PREFIX}rooms/conn-1/lobby"]
    )
    assert backend.load("conn-1") is None
    assert backend.members("lobby") == ["conn-2"]
    s3.delete_bucket_policy(Bucket=bucket)
    backend.delete("conn-1")
    assert sorted(all_keys(s3, bucket)) == conn_2


#: S3's messages for the per-key errors of its own making that DeleteObjects reports.
S3_TROUBLE = {
    "InternalError": "We encountered an internal error. Please try again.",
    "SlowDown": "Please reduce your request rate.",
}


class FailingDeletes:
    """Answers the first `times` DeleteObjects in S3's words when some keys failed on its side:
    200, a DeleteResult whose Error entries name the keys matching `failing` with `code` (one of
    `S3_TROUBLE`); the other keys are deleted for real first. Later DeleteObjects reach moto."""

    def __init__(self, s3: S3Client, bucket: str, failing: str, code: str, times: int) -> None:
        self.s3, self.bucket, self.failing, self.code, self.times = s3, bucket, failing, code, times
        #: The keys of each DeleteObjects request, in order.
        self.batches: list[list[str]] = []

    def __call__(self, request: Request, forward: Forward) -> Answer:
        if request.method != "POST" or not request.path.endswith("?delete"):
            return forward(request)
        namespace = "{http://s3.amazonaws.com/doc/2006-03-01/}"
        keys = [key.text or "" for key in ElementTree.fromstring(request.body).iter(f"{namespace}Key")]
        self.batches.append(keys)
        if len(self.batches) > self.times:
            return forward(request)
        errors = []
        for key in keys:
            if re.search(self.failing, key):
                errors.append(
                    f"<Error><Key>{escape(key)}</Key><Code>{self.code}</Code>"
                    f"<Message>{S3_TROUBLE[self.code]}</Message></Error>"
                )
            else:
                self.s3.delete_object(Bucket=self.bucket, Key=key)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            + "".join(errors)
            + "</DeleteResult>"
        ).encode()
        return Answer(200, [("Content-Type", "application/xml")], body)


@pytest.fixture
def through_proxy(moto_server: MotoServer, bucket: str) -> Iterator[Callable[[Handler], S3Backend]]:
    """A backend on this test's bucket whose requests go through an `AwsProxy` with a handler."""
    with ExitStack() as cleanup:

        def build(handle: Handler) -> S3Backend:
            proxy = cleanup.enter_context(AwsProxy(moto_server.endpoint_url, handle))
            made = from_dsn(
                f"s3://{bucket}/{PREFIX}?region=us-east-1&create=true&endpoint_url={proxy.endpoint_url}"
            )
            assert isinstance(made, S3Backend)
            cleanup.callback(made.close)
            return made

        yield build


@pytest.mark.parametrize("code", ["InternalError", "SlowDown"])
def test_delete_tries_again_the_keys_s3_failed_on_for_a_passing_reason(
    through_proxy: Callable[[Handler], S3Backend], bucket: str, s3: S3Client, code: str
) -> None:
    failing = FailingDeletes(s3, bucket, failing="/records/|/members/lobby/", code=code, times=1)
    backend = through_proxy(failing)
    backend.save(record("conn-1"))
    backend.join("conn-1", "lobby")
    backend.join("conn-1", "hall")

    backend.delete("conn-1")

    assert all_keys(s3, bucket) == []
    record_key = f"{PREFIX}records/conn-1"
    first, again, twins = failing.batches
    assert first[0] == record_key
    assert sorted(first[1:]) == [f"{PREFIX}members/hall/conn-1", f"{PREFIX}members/lobby/conn-1"]
    assert again == [record_key, f"{PREFIX}members/lobby/conn-1"]  # the failed keys alone
    assert sorted(twins) == [f"{PREFIX}rooms/conn-1/hall", f"{PREFIX}rooms/conn-1/lobby"]


def test_delete_gives_up_on_keys_that_keep_failing(
    through_proxy: Callable[[Handler], S3Backend], bucket: str, s3: S3Client
) -> None:
    failing = FailingDeletes(s3, bucket, failing="/members/", code="InternalError", times=100)
    backend = through_proxy(failing)
    backend.save(record("conn-1"))
    backend.join("conn-1", "lobby")

    with pytest.raises(BackendError) as raised:
        backend.delete("conn-1")

    assert str(raised.value) == (
        f"{backend.describe()}: could not delete 1 object(s) of connection 'conn-1', e.g."
        f" '{PREFIX}members/lobby/conn-1': InternalError We encountered an internal error."
        f" Please try again. (still failing after {len(s3_module._DELETE_DELAYS)} tries)"
    )
    tries = [[f"{PREFIX}members/lobby/conn-1"]] * (len(s3_module._DELETE_DELAYS) - 1)
    assert failing.batches == [[f"{PREFIX}records/conn-1", f"{PREFIX}members/lobby/conn-1"], *tries]
    assert sorted(all_keys(s3, bucket)) == [f"{PREFIX}members/lobby/conn-1", f"{PREFIX}rooms/conn-1/lobby"]


# Errors and recovery


def test_an_unreachable_endpoint_fails_fast_at_first_use() -> None:
    backend = from_dsn("s3://t-x/connections/?region=us-east-1&endpoint_url=http://127.0.0.1:1")
    started = time.monotonic()
    with pytest.raises(BackendError, match="cannot reach S3") as raised:
        backend.save(record("conn-1"))
    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert "s3 bucket t-x prefix 'connections/' in us-east-1 (endpoint http://127.0.0.1:1)" in message
    backend.close()


class _DenyEverything(BaseHTTPRequestHandler):
    """Answers like S3 to a caller without permission: 403 AccessDenied."""

    def _deny(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET = do_PUT = do_POST = do_DELETE = _deny

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def denying_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DenyEverything)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_access_denied_names_the_store_and_the_permissions(denying_endpoint: str) -> None:
    backend = from_dsn(f"s3://t-x/connections/?region=eu-west-1&endpoint_url={denying_endpoint}")
    with pytest.raises(BackendError, match="access denied") as raised:
        backend.load("conn-1")
    message = str(raised.value)
    assert f"s3 bucket t-x prefix 'connections/' in eu-west-1 (endpoint {denying_endpoint})" in message
    assert "s3:ListBucket" in message
    assert "arn:aws:s3:::t-x/connections/*" in message
    backend.close()


def test_the_same_backend_recovers_after_s3_was_down(backend: S3Backend, moto_server: MotoServer) -> None:
    backend.save(record("before"))
    head_buckets = calls_to(backend, "HeadBucket")
    with moto_server.stopped():
        started = time.monotonic()
        with pytest.raises(BackendError, match="cannot reach S3") as raised:
            backend.load("before")
        assert time.monotonic() - started < 10
        assert moto_server.endpoint_url in str(raised.value)
    # moto may come back without the bucket: the outage made the next call check it again, and
    # create=true makes it if it is gone.
    backend.save(record("after"))
    assert backend.load("after") is not None
    assert head_buckets == ["HeadBucket"]
