from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from asgiway.testing import ConnectionsApiDouble


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 signs every call; tests talk only to loopback, so any key pair will do."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def connections_api() -> Iterator[ConnectionsApiDouble]:
    with ConnectionsApiDouble() as double:
        yield double


@pytest.fixture
def dsn(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'connections.db'}"
