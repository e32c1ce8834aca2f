from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from asgiway.testing import ConnectionsApiDouble
from tests.fixtures import load_event
from tests.support.services import MotoServer

# --- AWS event payloads (tests/fixtures/events, listed with their sources in its INDEX.json) --


@pytest.fixture
def aws_event() -> Callable[[str], dict[str, Any]]:
    """Loads an indexed event fixture by file name, a fresh copy per call so a test may change it."""
    return load_event


# --- Real servers for the backends (see tests/support/services.py) ----------------------------


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server for the session, in a process of its own; tests keep apart by table, bucket
    and key names."""
    server = MotoServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def aws_test_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 signs every call; tests talk only to loopback (moto, the @connections double), so any
    key pair will do, and nothing may come from ~/.aws or a developer's own endpoint settings."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def connections_api() -> Iterator[ConnectionsApiDouble]:
    """The loopback @connections stand-in, recording every call."""
    with ConnectionsApiDouble() as double:
        yield double


@pytest.fixture
def dsn(tmp_path: Path) -> str:
    """An empty sqlite store of the test's own."""
    return f"sqlite://{tmp_path / 'connections.db'}"


@pytest.fixture(params=["sqlite", "postgresql", "redis", "dynamodb", "s3"])
def store_dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A dsn on each store in turn, empty, cleaned up afterwards."""
    from tests.support.stores import STORES

    make, clean = STORES[request.param]
    token = uuid.uuid4().hex[:12]
    yield make(tmp_path, token, request)
    if clean is not None:
        clean(token)
