"""The environment-configured handler the CDK construct points Lambda at."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import boto3
import pytest

from asgiway import Adapter, ConfigurationError
from asgiway.backends.postgresql import PostgreSQLBackend
from asgiway.entrypoint import adapter_from_environment
from asgiway.secrets import with_password
from asgiway.testing import http_event
from tests.support.services import POSTGRES_HOST, POSTGRES_PORT, MotoServer, listening, postgres_dsn, require


def test_builds_the_adapter_from_variables(tmp_path: Path) -> None:
    adapter = adapter_from_environment(
        {
            "ASGIWAY_APP": "examples.chat.app:app",
            "DSN_URL": f"sqlite://{tmp_path / 'c.db'}",
            "ASGIWAY_WEBSOCKET_PATH": "/ws",
            "ASGIWAY_LIFESPAN": "off",
        }
    )
    assert adapter.config.websocket_path == "/ws"
    assert adapter.backend is not None
    reply = adapter(http_event("GET", "/"))
    assert reply["statusCode"] == 200
    assert "WebSocket Chat" in reply["body"]


def test_an_adapter_named_by_the_variable_is_used_as_it_is() -> None:
    adapter = adapter_from_environment({"ASGIWAY_APP": "examples.echo.app:handler"})
    from examples.echo.app import handler

    assert adapter is handler
    assert isinstance(adapter, Adapter)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "Set ASGIWAY_APP"),
        ({"ASGIWAY_APP": "nocolon"}, "must be written 'module:attribute'"),
        ({"ASGIWAY_APP": "no_such_module_here:app"}, "Cannot import module 'no_such_module_here'"),
        ({"ASGIWAY_APP": "examples.chat.app:nothing"}, "has no attribute 'nothing'"),
        ({"ASGIWAY_APP": "examples.chat.app:PAGE"}, "names a str, not an ASGI app"),
        ({"ASGIWAY_APP": "examples.chat.app:app", "DSN_URL": "mysql://x"}, "mysql"),
    ],
)
def test_bad_variables_say_what_to_fix(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        adapter_from_environment(environ)


def test_api_gateways_timeout_comes_from_its_variable() -> None:
    environ = {"ASGIWAY_APP": "examples.chat.app:app"}
    assert adapter_from_environment(environ).api_gateway_timeout == 29.0
    raised = adapter_from_environment({**environ, "ASGIWAY_API_GATEWAY_TIMEOUT": "90"})
    assert raised.api_gateway_timeout == 90.0
    with pytest.raises(ConfigurationError, match="ASGIWAY_API_GATEWAY_TIMEOUT must be a number of seconds"):
        adapter_from_environment({**environ, "ASGIWAY_API_GATEWAY_TIMEOUT": "29s"})


def test_two_way_replies_are_switched_on_by_their_variable(tmp_path: Path) -> None:
    environ = {"ASGIWAY_APP": "examples.chat.app:app", "DSN_URL": f"sqlite://{tmp_path / 'c.db'}"}
    assert adapter_from_environment(environ).config.two_way_routes == frozenset()
    for value, routes in (
        ("true", {"$default"}),
        ("1", {"$default"}),
        ("false", set()),
        ("$default,sendmessage", {"$default", "sendmessage"}),
        (" whoami ", {"whoami"}),
    ):
        adapter = adapter_from_environment({**environ, "ASGIWAY_TWO_WAY_REPLIES": value})
        assert adapter.config.two_way_routes == routes, value
    for bad in ("yes please", "$default,,x"):
        with pytest.raises(
            ConfigurationError, match="ASGIWAY_TWO_WAY_REPLIES must be true, false, or route keys"
        ):
            adapter_from_environment({**environ, "ASGIWAY_TWO_WAY_REPLIES": bad})


@pytest.mark.parametrize("stored", ['{"username": "postgres", "password": "p@ss:w/rd"}', "p@ss:w/rd"])
def test_the_dsn_password_comes_from_secrets_manager(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, stored: str
) -> None:
    require(listening(POSTGRES_HOST, POSTGRES_PORT), "PostgreSQL on 127.0.0.1:5432")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_server.endpoint_url)
    secrets = boto3.client("secretsmanager", endpoint_url=moto_server.endpoint_url)
    arn = secrets.create_secret(Name=f"dsn-{uuid.uuid4().hex}", SecretString=stored)["ARN"]
    caplog.set_level(logging.DEBUG)
    adapter = adapter_from_environment(
        {
            "ASGIWAY_APP": "examples.chat.app:app",
            "ASGIWAY_LIFESPAN": "off",
            "DSN_URL": postgres_dsn(),
            "DSN_PASSWORD_SECRET_ARN": arn,
        }
    )
    backend = adapter.backend
    assert isinstance(backend, PostgreSQLBackend)
    assert backend.dsn.password == "p@ss:w/rd"
    backend.connections()  # trust auth accepts any password: this proves the dsn still parses and connects
    assert "p@ss:w/rd" not in repr(backend.dsn) + backend.describe() + caplog.text


def test_a_password_in_both_places_or_an_unreadable_secret_is_a_clear_error(
    moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto_server.endpoint_url)
    environ = {"ASGIWAY_APP": "examples.chat.app:app", "ASGIWAY_LIFESPAN": "off"}
    with pytest.raises(ConfigurationError, match="already holds a password"):
        with_password("postgresql://user:old@db/app", "new")
    with pytest.raises(ConfigurationError, match="Cannot read the dsn's password") as unreadable:
        adapter_from_environment(
            {
                **environ,
                "DSN_URL": "redis://cache:6379/0",
                "DSN_PASSWORD_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing",
            }
        )
    assert "ResourceNotFoundException" in str(unreadable.value)
    assert with_password("redis://cache:6379/0", "s3cr:t") == "redis://:s3cr%3At@cache:6379/0"
