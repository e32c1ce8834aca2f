"""The emulator's per-run credentials, and the SigV4 check its @connections and Invoke API make.

`asgiway dev` makes a key pair at start and hands it to its instances only (see
`asgiway.management_api.session_for_emulator_endpoints`); a request to those two endpoints must be
signed with it. The signature is recomputed with botocore's own `SigV4Auth`, the code that signed
it, over exactly what the client says it signed: the headers named in `SignedHeaders` with the
values received, the path and query string as sent, and the body received. Only the timestamp
comes from the request (`X-Amz-Date`), within `MAX_CLOCK_SKEW` of now, as AWS allows.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from asgiway.types import Headers

#: How far X-Amz-Date may be from now: AWS refuses a request signed more than 15 minutes away.
MAX_CLOCK_SKEW = timedelta(minutes=15)
#: SigV4's timestamp format, e.g. 20240101T120000Z.
_TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 "
    r"Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)/aws4_request,\s*"
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})"
)


@dataclass(frozen=True)
class RunCredentials:
    """The key pair of one `asgiway dev` run."""

    access_key_id: str
    secret_access_key: str = field(repr=False)

    @classmethod
    def generate(cls) -> RunCredentials:
        # The key id is not secret (it travels in every Authorization header); random, it also
        # names the run. The secret has 240 random bits.
        return cls(f"ASGIWAYDEV{secrets.token_hex(5).upper()}", secrets.token_urlsafe(30))


@dataclass(frozen=True)
class SignedRequest:
    """A request as it arrived: `raw_path` and `query_string` exactly as sent, headers as received."""

    method: str
    raw_path: str
    query_string: str
    headers: Headers
    body: bytes


class SignatureError(Exception):
    """Why a request's signature is not accepted; the message holds nothing secret."""


@dataclass(frozen=True)
class _Authorization:
    """What an Authorization header claims: who signed, for what scope, which headers, and how."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: list[str]
    signature: str

    @classmethod
    def parse(cls, header: str | None) -> _Authorization:
        if header is None:
            raise SignatureError("the request is not signed")
        found = _AUTHORIZATION.fullmatch(header.strip())
        if found is None:
            raise SignatureError("the Authorization header is not SigV4 (AWS4-HMAC-SHA256)")
        return cls(
            found["key"],
            found["date"],
            found["region"],
            found["service"],
            found["signed"].split(";"),
            found["signature"],
        )


def check_signature(request: SignedRequest, credentials: RunCredentials, service: str, now: datetime) -> None:
    """Return when `request` is signed with `credentials` for `service`; SignatureError otherwise."""
    authorization = _Authorization.parse(_single_header(request.headers, b"authorization"))
    if authorization.access_key_id != credentials.access_key_id:
        raise SignatureError("the request is signed with another access key id than this run's")
    if authorization.service != service:
        raise SignatureError(f"the request is signed for {authorization.service!r}, not {service!r}")
    timestamp = _single_header(request.headers, b"x-amz-date") or ""
    _check_timestamp(timestamp, authorization.date, now)
    content_hash = _single_header(request.headers, b"x-amz-content-sha256")
    if content_hash is not None and content_hash != hashlib.sha256(request.body).hexdigest():
        # Whatever X-Amz-Content-SHA256 says is what the signature covers (UNSIGNED-PAYLOAD
        # included): unless it is the body's hash, the body would be unauthenticated.
        raise SignatureError("X-Amz-Content-SHA256 is not the hash of the body")
    expected = _signature(request, credentials, authorization, timestamp)
    if not hmac.compare_digest(expected.encode(), authorization.signature.encode()):
        raise SignatureError("the signature does not match")


def _check_timestamp(timestamp: str, scope_date: str, now: datetime) -> None:
    try:
        signed_at = datetime.strptime(timestamp, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureError("X-Amz-Date is missing or malformed") from None
    if timestamp[:8] != scope_date:
        raise SignatureError("X-Amz-Date is not the credential scope's date")
    if abs(now - signed_at) > MAX_CLOCK_SKEW:
        raise SignatureError("X-Amz-Date is more than 15 minutes from now")


def _signature(
    request: SignedRequest, credentials: RunCredentials, authorization: _Authorization, timestamp: str
) -> str:
    """The signature botocore computes for the request, over what `authorization` says was signed."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    query = f"?{request.query_string}" if request.query_string else ""
    host = _single_header(request.headers, b"host") or ""
    # http: botocore hashes the body itself for a plain-http URL (over https it may not).
    rebuilt = AWSRequest(
        method=request.method, url=f"http://{host}{request.raw_path}{query}", data=request.body
    )
    for name in authorization.signed_headers:
        values = [value for key, value in request.headers if key == name.encode("latin-1")]
        if not values:
            raise SignatureError(f"the signed header {name!r} is missing")
        for value in values:  # repeated headers: botocore joins their values with commas
            rebuilt.headers[name] = value.decode("latin-1")
    rebuilt.context["timestamp"] = timestamp
    signer = SigV4Auth(
        Credentials(credentials.access_key_id, credentials.secret_access_key),
        authorization.service,
        authorization.region,
    )
    canonical_request = signer.canonical_request(rebuilt)
    return str(signer.signature(signer.string_to_sign(rebuilt, canonical_request), rebuilt))


def _single_header(headers: Headers, name: bytes) -> str | None:
    """The header's value; None when absent; SignatureError when it is repeated (ambiguous)."""
    values = [value for key, value in headers if key == name]
    if len(values) > 1:
        raise SignatureError(f"{name.decode()} is repeated")
    return values[0].decode("latin-1") if values else None
