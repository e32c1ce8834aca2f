"""POST to @connections with botocore's signer over a pooled urllib3 connection set, not a boto3 client.

A boto3 call spends about 1.2–2.2 ms of CPU per post (request building, serialization, event hooks,
the user agent, response parsing), serialized by the GIL: a broadcast to thousands of clients is
bound by it. A post needs none of that: its request is a URL, a body and a signature. This module
keeps botocore for what must not be rewritten, its credential provider (refresh included) and its
`SigV4Auth` signer, and sends through one urllib3 pool per endpoint.

What the boto3 client gave is kept: its timeouts, its standard retry mode (429 and 5xx retried with
jittered exponential backoff, throttling scaled by 1 s and other errors by 50 ms, under a retry quota
of 500 tokens), 410 meaning gone whether or not AWS names a GoneException, and the log redaction of
`asgiway.log_redaction`. A retry that could not finish before the caller's deadline is not started.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.retries.quota import RetryQuota
from urllib3.exceptions import HTTPError

from asgiway.log_redaction import protected_call
from asgiway.management_api import ConnectionsApiError

if TYPE_CHECKING:
    from botocore.credentials import Credentials

#: botocore's standard mode, as of 1.44: the tokens a client may spend on retries, what a retry of a
#: throttled call and of any other failure costs, and the backoff scales and cap.
RETRY_QUOTA_TOKENS = 500
THROTTLED_RETRY_COST = 5
OTHER_RETRY_COST = 14
THROTTLED_BACKOFF_SCALE_SECONDS = 1.0
OTHER_BACKOFF_SCALE_SECONDS = 0.05
MAX_BACKOFF_SECONDS = 20.0
#: AWS may say how long to wait (in ms); botocore waits that, at most 5 s past its own backoff.
RETRY_AFTER_HEADER = "x-amz-retry-after"
RETRY_AFTER_MAX_EXTRA_SECONDS = 5.0
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
THROTTLED_ERROR_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
TRANSIENT_ERROR_CODES = frozenset({"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"})
#: The signing name of API Gateway's execute-api endpoints, @connections included.
SIGNING_SERVICE = "execute-api"


@dataclass(frozen=True)
class PostPolicy:
    """Timeouts, attempts and pool size: the ones the boto3 client is configured with."""

    connect_timeout: float
    read_timeout: float
    max_attempts: int
    pool_size: int


class SignedPoster:
    """Posts frames to the @connections API at one endpoint; safe to share between threads."""

    def __init__(
        self, endpoint_url: str, region: str, credentials: Credentials | None, policy: PostPolicy
    ) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.region = region
        self.policy = policy
        self._credentials = credentials
        self._quota = RetryQuota(RETRY_QUOTA_TOKENS)
        self._timeout = urllib3.Timeout(connect=policy.connect_timeout, read=policy.read_timeout)
        self._pool = _pool_for(self.endpoint_url, policy.pool_size)
        self._path_prefix = (urllib3.util.parse_url(self.endpoint_url).path or "").rstrip("/")

    def post(self, connection_id: str, payload: bytes, deadline: float | None = None) -> bool:
        """Send one frame; False when the client is gone (410). ConnectionsApiError once retries
        are spent, the quota is, or the next one could not end before `deadline` (a monotonic time)."""
        # botocore percent-encodes a path label with only -._~ kept: ids end with '='.
        encoded_id = quote(connection_id, safe="-._~")
        url = f"{self.endpoint_url}/@connections/{encoded_id}"
        # Sent as is: parsing the URL again would resolve an id of "." or ".." as a path segment.
        path = f"{self._path_prefix}/@connections/{encoded_id}"
        retry_cost = 0
        for attempt in range(1, self.policy.max_attempts + 1):
            status, code, retry_after, problem = self._attempt(url, path, payload)
            if status is not None and 200 <= status < 300:
                # As botocore: a success gives back what its last retry took, or one token.
                self._quota.release(retry_cost or 1)
                return True
            if status == 410:
                return False
            throttled = status == 429 or code in THROTTLED_ERROR_CODES
            retryable = (
                throttled
                or problem is not None
                or status in TRANSIENT_STATUSES
                or code in TRANSIENT_ERROR_CODES
            )
            reason = problem or code
            if not retryable or attempt == self.policy.max_attempts:
                break
            delay = _backoff(attempt, throttled, retry_after)
            if deadline is not None and time.monotonic() + delay >= deadline:
                reason = f"{reason} (no time left to retry before the event's deadline)"
                break
            retry_cost = THROTTLED_RETRY_COST if throttled else OTHER_RETRY_COST
            if not self._quota.acquire(retry_cost):
                reason = f"{reason} (retry quota reached)"
                break
            time.sleep(delay)
        raise ConnectionsApiError(f"@connections post_to_connection at {self.endpoint_url} failed: {reason}")

    def _attempt(
        self, url: str, path: str, payload: bytes
    ) -> tuple[int | None, str, float | None, str | None]:
        """(status, error code, x-amz-retry-after in s, transport problem) of one signed POST."""
        with protected_call():  # botocore.auth logs the canonical request and signature at DEBUG
            headers = self._signed_headers(url, payload)
            try:
                response = self._pool.urlopen(
                    "POST",
                    path,
                    body=payload,
                    headers=headers,
                    retries=False,
                    redirect=False,
                    timeout=self._timeout,
                    assert_same_host=False,
                )
            except HTTPError as exc:
                return None, "", None, f"{type(exc).__name__}: {exc}"
        status = response.status
        if 200 <= status < 300 or status == 410:
            return status, "", None, None
        return status, _error_code(response), _retry_after(response), None

    def _signed_headers(self, url: str, payload: bytes) -> dict[str, str]:
        if self._credentials is None:
            raise ConnectionsApiError(
                f"@connections post_to_connection at {self.endpoint_url} failed: Unable to locate credentials"
            )
        # Frozen once per request, as botocore's own signer does: refreshable credentials renew here.
        credentials = self._credentials.get_frozen_credentials()
        request = AWSRequest(method="POST", url=url, data=payload)
        SigV4Auth(credentials, SIGNING_SERVICE, self.region).add_auth(request)
        return {name: _text(value) for name, value in request.headers.items()}


def _pool_for(endpoint_url: str, size: int) -> urllib3.HTTPConnectionPool:
    """One pool of `size` kept-alive connections (TCP keepalive on, as the boto3 client had)."""
    from botocore.httpsession import get_cert_path

    socket_options = [*urllib3.connection.HTTPConnection.default_socket_options]
    socket_options.append((socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1))
    options: dict[str, object] = {"maxsize": size, "block": False, "socket_options": socket_options}
    if endpoint_url.startswith("https:"):
        # botocore's certificate bundle, or AWS_CA_BUNDLE as botocore honours it.
        options["ca_certs"] = os.environ.get("AWS_CA_BUNDLE") or get_cert_path(True)
    return urllib3.connection_from_url(endpoint_url, **options)


def _backoff(attempt: int, throttled: bool, retry_after: float | None) -> float:
    scale = THROTTLED_BACKOFF_SCALE_SECONDS if throttled else OTHER_BACKOFF_SCALE_SECONDS
    # Jitter for retry timing, not for secrecy.
    delay = random.random() * min(scale * 2.0 ** (attempt - 1), MAX_BACKOFF_SECONDS)  # noqa: S311
    if retry_after is not None:
        return max(delay, min(retry_after, delay + RETRY_AFTER_MAX_EXTRA_SECONDS))
    return delay


def _error_code(response: urllib3.BaseHTTPResponse) -> str:
    """The error's name as botocore's rest-json parser finds it: the x-amzn-ErrorType header, else
    the body's `__type` or `code`, else the HTTP status."""
    named = response.headers.get("x-amzn-ErrorType")
    if named:
        return str(named).split(":", 1)[0]
    try:
        body = json.loads(response.data or b"{}")
    except ValueError:
        body = None
    if isinstance(body, dict):
        found = body.get("__type") or body.get("code")
        if isinstance(found, str) and found:
            return found.rsplit("#", 1)[-1]
    return str(response.status)


def _retry_after(response: urllib3.BaseHTTPResponse) -> float | None:
    value = response.headers.get(RETRY_AFTER_HEADER)
    try:
        seconds = int(value) / 1000 if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value
