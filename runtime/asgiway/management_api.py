"""The API Gateway `@connections` management API: how frames reach a WebSocket client.

POST `/@connections/{id}` sends a frame (200), GET describes the connection (200), DELETE
closes it (204). 410 GoneException means the client has left. A frame is at most 128 KB.
One client is kept per endpoint, so warm invocations reuse its HTTP connection pool (posts go
through `asgiway.signed_posts`, GET and DELETE through boto3);
botocore signs every request and percent-encodes ids (API Gateway ids end with `=`).
"""

from __future__ import annotations

import os
import re
import threading
from typing import TYPE_CHECKING, Any

from asgiway.exceptions import AsgiwayError
from asgiway.log_redaction import protect

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient

    from asgiway.signed_posts import SignedPoster

#: API Gateway refuses a WebSocket message over 128 KB (413 PayloadTooLarge).
MAX_MESSAGE_BYTES = 128 * 1024
#: Concurrent calls a client is sized for: a broadcast's fan-out shares one client's HTTP pool.
MAX_CONCURRENT_CALLS = 32
#: Seconds to connect and to wait for an answer, and attempts in all (the first and four retries).
CONNECT_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0
MAX_ATTEMPTS = 5

#: boto3's own variables for redirecting this one service, then every service.
ENDPOINT_ENVIRONMENT_VARIABLES = ("AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", "AWS_ENDPOINT_URL")

#: Set by `asgiway dev` in its instances only: the key pair its own @connections and Invoke API
#: accept, made afresh for each run. Absent on Lambda.
LOCAL_ACCESS_KEY_ID_VARIABLE = "ASGIWAY_LOCAL_ACCESS_KEY_ID"
LOCAL_SECRET_ACCESS_KEY_VARIABLE = "ASGIWAY_LOCAL_SECRET_ACCESS_KEY"  # noqa: S105 - a name, not a secret

_EXECUTE_API_HOST = re.compile(r"^https://[^./]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com")


class ConnectionsApiError(AsgiwayError):
    """The @connections API refused a call for a reason other than the client being gone."""


class MessageTooLargeError(ConnectionsApiError):
    """A frame over API Gateway's 128 KB message limit; refused before calling AWS."""


def check_message_size(data: str | bytes) -> bytes:
    """The frame as bytes; MessageTooLargeError when API Gateway would refuse it (over 128 KB)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if len(payload) > MAX_MESSAGE_BYTES:
        raise MessageTooLargeError(
            f"A WebSocket message of {len(payload)} bytes exceeds API Gateway's limit of "
            f"{MAX_MESSAGE_BYTES} bytes; split it or send a link to the data instead"
        )
    return payload


def environment_region() -> str:
    """The function's region, as Lambda sets it (AWS_REGION), else boto3's default, else us-east-1."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def session_for_emulator_endpoints() -> boto3.session.Session:
    """A boto3 session for @connections and Lambda's Invoke API only: under `asgiway dev`, it signs
    with the run's own key pair (LOCAL_*_VARIABLE), which the emulator checks; elsewhere it has
    boto3's usual credentials (on Lambda, the function's role).

    Explicit keys also keep a developer's own credentials (and session token) from being signed
    into requests to the emulator.
    """
    import boto3

    access_key_id = os.environ.get(LOCAL_ACCESS_KEY_ID_VARIABLE)
    secret_access_key = os.environ.get(LOCAL_SECRET_ACCESS_KEY_VARIABLE)
    if access_key_id and secret_access_key:
        return boto3.session.Session(aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key)
    return boto3.session.Session()


def configured_endpoint_url() -> str | None:
    """An endpoint set through boto3's environment variables, if any (local runs, tests)."""
    for name in ENDPOINT_ENVIRONMENT_VARIABLES:
        value = os.environ.get(name)
        if value:
            return value
    return None


class ManagementApi:
    """Calls @connections at one endpoint, e.g. `https://{api}.execute-api.{region}.amazonaws.com/{stage}`."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self._client: ApiGatewayManagementApiClient | None = None
        self._poster: SignedPoster | None = None
        self._lock = threading.Lock()

    def post(self, connection_id: str, data: str | bytes, deadline: float | None = None) -> bool:
        """Send one frame; False when the client is gone (410). No retry starts that could not end
        before `deadline` (a `time.monotonic()`). Posts skip boto3: see `asgiway.signed_posts`."""
        payload = check_message_size(data)
        return self.poster.post(connection_id, payload, deadline)

    def delete(self, connection_id: str) -> bool:
        """Close the connection; False when it was already gone (410)."""
        return self._call("delete_connection", ConnectionId=connection_id) is not None

    def info(self, connection_id: str) -> dict[str, Any] | None:
        """ConnectedAt, Identity and LastActiveAt of a live connection, or None when gone."""
        answer = self._call("get_connection", ConnectionId=connection_id)
        if answer is None:
            return None
        return {key: value for key, value in answer.items() if key != "ResponseMetadata"}

    def _call(self, operation: str, **params: Any) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer: dict[str, Any] = getattr(self.client, operation)(**params)
        except ClientError as exc:
            # botocore maps a 410 to GoneException only when AWS names it; a bare 410 means the same.
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 410:
                return None
            code = exc.response.get("Error", {}).get("Code", "?")
            raise ConnectionsApiError(
                f"@connections {operation} at {self.endpoint_url} failed: {code}"
            ) from exc
        except BotoCoreError as exc:
            raise ConnectionsApiError(
                f"@connections {operation} at {self.endpoint_url} failed: {exc}"
            ) from exc
        return answer

    @property
    def poster(self) -> SignedPoster:
        if self._poster is None:
            with self._lock:
                if self._poster is None:
                    from asgiway.signed_posts import PostPolicy, SignedPoster

                    # The same credentials, timeouts, attempts and pool as the boto3 client's.
                    credentials = session_for_emulator_endpoints().get_credentials()
                    policy = PostPolicy(
                        CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, MAX_ATTEMPTS, MAX_CONCURRENT_CALLS
                    )
                    self._poster = SignedPoster(self.endpoint_url, self.region, credentials, policy)
        return self._poster

    @property
    def region(self) -> str:
        match = _EXECUTE_API_HOST.match(self.endpoint_url)
        return match.group(1) if match else environment_region()

    @property
    def client(self) -> ApiGatewayManagementApiClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _make_client(self) -> ApiGatewayManagementApiClient:
        from botocore.config import Config

        # Standard retries back off and try again on 429 LimitExceededException and on 5xx:
        # `max_attempts` counts retries, so 5 attempts in all, backing off up to 1 + 2 + 4 + 8 s.
        config = Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS - 1},
            tcp_keepalive=True,
            max_pool_connections=MAX_CONCURRENT_CALLS,
        )
        # boto3's default session is not thread-safe; each client gets a session of its own.
        client = session_for_emulator_endpoints().client(
            "apigatewaymanagementapi",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            config=config,
        )
        return protect(client)  # the frames must not reach botocore's DEBUG log


_clients: dict[str, ManagementApi] = {}
_clients_lock = threading.Lock()


def client_for(endpoint_url: str) -> ManagementApi:
    """The one client of this container for an endpoint, created on first use."""
    with _clients_lock:
        client = _clients.get(endpoint_url)
        if client is None:
            client = _clients[endpoint_url] = ManagementApi(endpoint_url)
        return client
