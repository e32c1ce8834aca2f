"""The lean @connections path: botocore's signer and credentials over urllib3, with the boto3
client's retry policy, 410 handling, per-run credentials and log redaction."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.credentials import RefreshableCredentials

from asgiway.exceptions import AsgiwayError
from asgiway.management_api import (
    LOCAL_ACCESS_KEY_ID_VARIABLE,
    LOCAL_SECRET_ACCESS_KEY_VARIABLE,
    ConnectionsApiError,
    ManagementApi,
)
from asgiway.signed_posts import PostPolicy, SignedPoster
from asgiway.testing import ConnectionsApiDouble

POLICY = PostPolicy(connect_timeout=2, read_timeout=5, max_attempts=5, pool_size=4)


def key_id_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].split("Credential=", 1)[1].split("/", 1)[0]


@pytest.mark.parametrize("bare", [False, True])
def test_410_means_gone_with_or_without_the_gone_exception_header(
    bare: bool, connections_api: ConnectionsApiDouble
) -> None:
    connections_api.gone.add("left=")
    connections_api.bare_gone = bare
    api = ManagementApi(connections_api.endpoint_url)

    assert api.post("left=", "hi") is False
    assert api.post("here=", "hi") is True
    assert len(connections_api.sent("left=")) == 1  # a 410 is an answer, never retried


def test_throttling_and_server_errors_are_retried_and_others_are_not(
    connections_api: ConnectionsApiDouble,
) -> None:
    connections_api.failures.update({"busy=": (2, 429), "flaky=": (1, 503)})
    connections_api.statuses["denied="] = 403
    api = ManagementApi(connections_api.endpoint_url)

    assert api.post("busy=", "a") is True
    assert api.post("flaky=", "b") is True
    with pytest.raises(ConnectionsApiError, match="ForbiddenException"):
        api.post("denied=", "c")
    assert [len(connections_api.sent(c)) for c in ("busy=", "flaky=", "denied=")] == [3, 2, 1]


def test_no_retry_starts_that_could_not_end_before_the_deadline(
    connections_api: ConnectionsApiDouble,
) -> None:
    connections_api.statuses["busy="] = 429
    api = ManagementApi(connections_api.endpoint_url)

    with pytest.raises(ConnectionsApiError, match=r"LimitExceededException.*deadline"):
        api.post("busy=", "a", deadline=time.monotonic())
    assert len(connections_api.sent("busy=")) == 1


def test_ids_are_percent_encoded_as_botocore_does(connections_api: ConnectionsApiDouble) -> None:
    assert ManagementApi(connections_api.endpoint_url).post("a+b/c=", b"\x00")
    (call,) = connections_api.calls
    assert call.path == "/test/@connections/a%2Bb%2Fc%3D"
    assert call.data == b"\x00"


@pytest.mark.parametrize("connection_id", [".", ".."])
def test_dot_ids_are_sent_as_ids_not_path_segments(
    connection_id: str, connections_api: ConnectionsApiDouble
) -> None:
    assert ManagementApi(connections_api.endpoint_url).post(connection_id, "x")
    assert connections_api.sent(connection_id) == [b"x"]


def test_refreshable_credentials_are_renewed_when_they_expire(connections_api: ConnectionsApiDouble) -> None:
    issued: list[str] = []

    def refresh() -> dict[str, str]:
        issued.append(f"KEY{len(issued)}")
        # Already within botocore's refresh window: the next signature asks for new ones.
        expiry = datetime.now(UTC) + timedelta(seconds=60)
        return {"access_key": issued[-1], "secret_key": "s", "token": "t", "expiry_time": expiry.isoformat()}

    credentials = RefreshableCredentials.create_from_metadata(refresh(), refresh, "test")
    poster = SignedPoster(connections_api.endpoint_url, "us-east-1", credentials, POLICY)

    assert poster.post("a=", b"1")
    assert poster.post("a=", b"2")

    first, second = connections_api.calls
    assert key_id_of(first.headers) != key_id_of(second.headers)
    assert {key_id_of(first.headers), key_id_of(second.headers)} <= set(issued)
    assert first.headers["X-Amz-Security-Token"] == "t"


def test_posts_sign_with_the_runs_own_key_pair_under_asgiway_dev(
    connections_api: ConnectionsApiDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LOCAL_ACCESS_KEY_ID_VARIABLE, "ASGIWAYDEVRUN")
    monkeypatch.setenv(LOCAL_SECRET_ACCESS_KEY_VARIABLE, "run-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "developers-own-token")

    assert ManagementApi(connections_api.endpoint_url).post("a=", "hi")

    (call,) = connections_api.calls
    assert key_id_of(call.headers) == "ASGIWAYDEVRUN"
    assert "X-Amz-Security-Token" not in call.headers


def test_no_credentials_is_an_error_of_asgiways_not_a_crash(connections_api: ConnectionsApiDouble) -> None:
    poster = SignedPoster(connections_api.endpoint_url, "us-east-1", None, POLICY)

    with pytest.raises(AsgiwayError, match="credentials"):
        poster.post("a=", b"x")
    assert connections_api.calls == []


def test_an_unreachable_endpoint_fails_after_the_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("asgiway.signed_posts.OTHER_BACKOFF_SCALE_SECONDS", 0.0)
    with ConnectionsApiDouble() as double:
        endpoint_url = double.endpoint_url  # a port nobody listens on once it stops

    with pytest.raises(ConnectionsApiError, match="NewConnectionError"):
        ManagementApi(endpoint_url).post("a=", "x")


def test_signing_records_are_redacted_at_debug(
    connections_api: ConnectionsApiDouble, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="botocore.auth"):
        assert ManagementApi(connections_api.endpoint_url).post("a=", "secret frame")

    signing = [record.getMessage() for record in caplog.records if record.name == "botocore.auth"]
    assert any(message.startswith("CanonicalRequest: (not logged") for message in signing)
    (call,) = connections_api.calls
    signature = call.headers["Authorization"].rsplit("Signature=", 1)[1]
    assert not any(signature in message or "secret frame" in message for message in caplog.messages)
