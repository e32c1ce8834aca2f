"""The SigV4 check of `asgiway dev`'s @connections and Invoke API, request by request, and the key
pair the runtime signs those two endpoints with (and nothing else)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from asgiway.local.sigv4 import RunCredentials, SignatureError, SignedRequest, check_signature
from asgiway.management_api import (
    LOCAL_ACCESS_KEY_ID_VARIABLE,
    LOCAL_SECRET_ACCESS_KEY_VARIABLE,
    session_for_emulator_endpoints,
)
from tests.support.signing import signed_request

RUN = RunCredentials.generate()
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
#: A connection id as botocore puts it in the path: percent-encoded, which SigV4 encodes again.
URL = "http://127.0.0.1:8000/dev/@connections/Ab3dEf%3D"


def as_received(
    method: str = "POST",
    url: str = URL,
    body: bytes = b"hello",
    *,
    at: datetime = NOW,
    credentials: tuple[str, str] = (RUN.access_key_id, RUN.secret_access_key),
    service: str = "execute-api",
    headers: dict[str, str] | None = None,
) -> SignedRequest:
    """A request signed by botocore, as the emulator receives it (ASGI's lowercase header names)."""
    request = signed_request(method, url, body, credentials, service, headers=headers, at=at)
    parts = urlsplit(url)
    received = [(name.lower().encode(), value.encode()) for name, value in request.header_items()]
    return SignedRequest(method, parts.path, parts.query, [(b"host", parts.netloc.encode()), *received], body)


def refusal(request: SignedRequest, service: str = "execute-api", now: datetime = NOW) -> str:
    with pytest.raises(SignatureError) as refused:
        check_signature(request, RUN, service, now)
    return str(refused.value)


def with_header(request: SignedRequest, name: bytes, value: bytes | None) -> SignedRequest:
    """The request with header `name` set to `value` (None: removed)."""
    headers = [(key, old) for key, old in request.headers if key != name]
    return dataclasses.replace(request, headers=headers + ([(name, value)] if value is not None else []))


@pytest.mark.parametrize("method", ["POST", "GET", "DELETE"])
def test_what_botocore_signs_with_the_runs_key_is_accepted(method: str) -> None:
    body = b"hello" if method == "POST" else b""
    check_signature(as_received(method, body=body), RUN, "execute-api", NOW)


def test_a_query_string_and_the_invoke_path_are_signed_as_botocore_signs_them() -> None:
    url = "http://localhost:8000/2015-03-31/functions/asgiway-dev/invocations?Qualifier=%24LATEST&b=1"
    check_signature(as_received(url=url, service="lambda"), RUN, "lambda", NOW)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: dataclasses.replace(r, body=b"admin: please send me your password"), "does not match"),
        (lambda r: dataclasses.replace(r, method="DELETE"), "does not match"),
        (lambda r: dataclasses.replace(r, raw_path="/dev/@connections/Other%3D"), "does not match"),
        (lambda r: dataclasses.replace(r, query_string="x=1"), "does not match"),
        (lambda r: with_header(r, b"host", b"evil.example:8000"), "does not match"),
        (lambda r: with_header(r, b"authorization", None), "not signed"),
        (lambda r: with_header(r, b"authorization", b"Bearer token"), "not SigV4"),
        (lambda r: with_header(r, b"x-amz-date", None), "X-Amz-Date is missing"),
        (
            lambda r: dataclasses.replace(r, headers=[*r.headers, (b"x-amz-date", b"20260102T030405Z")]),
            "repeated",
        ),
        (lambda r: with_header(r, b"x-amz-date", b"20260102T030406Z"), "does not match"),
        (lambda r: with_header(r, b"x-amz-date", b"20260103T030405Z"), "scope's date"),
    ],
    ids=[
        "body",
        "method",
        "path",
        "query",
        "host",
        "no signature",
        "another scheme",
        "no date",
        "two dates",
        "another second",
        "another day",
    ],
)
def test_a_request_changed_after_signing_is_refused(
    change: Callable[[SignedRequest], SignedRequest], expected: str
) -> None:
    assert expected in refusal(change(as_received()))


def test_a_signed_header_that_is_not_there_is_refused() -> None:
    signed = as_received(headers={"X-Custom": "1"})
    assert "'x-custom' is missing" in refusal(with_header(signed, b"x-custom", None))


def test_an_unsigned_payload_is_refused() -> None:
    """UNSIGNED-PAYLOAD would leave the body out of the signature."""
    signed = as_received(headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert "not the hash of the body" in refusal(signed)
    hashed = as_received(headers={"X-Amz-Content-SHA256": hashlib.sha256(b"hello").hexdigest()})
    check_signature(hashed, RUN, "execute-api", NOW)


def test_another_key_secret_or_service_is_refused() -> None:
    assert "another access key id" in refusal(as_received(credentials=("AKIAIOSFODNN7EXAMPLE", "x")))
    assert "does not match" in refusal(as_received(credentials=(RUN.access_key_id, "guessed")))
    assert "signed for 'lambda'" in refusal(as_received(service="lambda"))


@pytest.mark.parametrize(("skew", "accepted"), [(14, True), (-14, True), (16, False), (-16, False)])
def test_a_signature_is_good_for_15_minutes_either_way(skew: int, accepted: bool) -> None:
    signed = as_received(at=NOW + timedelta(minutes=skew))
    if accepted:
        check_signature(signed, RUN, "execute-api", NOW)
    else:
        assert "15 minutes" in refusal(signed)


def test_the_runs_secret_never_shows_in_its_repr() -> None:
    assert RUN.secret_access_key not in repr(RUN)


def test_emulator_endpoints_are_signed_with_the_runs_keys_not_the_developers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIADEVELOPER")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "developer-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "developer-session-token")
    monkeypatch.setenv(LOCAL_ACCESS_KEY_ID_VARIABLE, RUN.access_key_id)
    monkeypatch.setenv(LOCAL_SECRET_ACCESS_KEY_VARIABLE, RUN.secret_access_key)
    credentials = session_for_emulator_endpoints().get_credentials()
    assert credentials is not None
    assert (credentials.access_key, credentials.secret_key, credentials.token) == (
        RUN.access_key_id,
        RUN.secret_access_key,
        None,
    )


def test_without_the_emulator_boto3s_own_credentials_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """On Lambda the variables are absent: the function's role signs, as before."""
    monkeypatch.delenv(LOCAL_ACCESS_KEY_ID_VARIABLE, raising=False)
    monkeypatch.delenv(LOCAL_SECRET_ACCESS_KEY_VARIABLE, raising=False)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "role-session-token")
    credentials = session_for_emulator_endpoints().get_credentials()
    assert credentials is not None
    assert (credentials.access_key, credentials.token) == ("testing", "role-session-token")
