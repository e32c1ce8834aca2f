"""How the conformance suite reaches each backend's store, one test's worth at a time.

Each function builds a backend from a dsn, as a user would, on a store of its own for the
token: a PostgreSQL schema, a Redis key prefix, a DynamoDB table, an S3 bucket.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from asgiway.backends import Backend, from_dsn
from tests.support.services import (
    POSTGRES_HOST,
    POSTGRES_PORT,
    REDIS_HOST,
    REDIS_PORT,
    MotoServer,
    listening,
    postgres_dsn,
    require,
)


def postgresql(tmp: Path, token: str, request: pytest.FixtureRequest) -> Backend:
    require(listening(POSTGRES_HOST, POSTGRES_PORT), f"PostgreSQL on {POSTGRES_HOST}:{POSTGRES_PORT}")
    import psycopg2

    connection = psycopg2.connect(postgres_dsn())
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "t_{token}"')
    connection.close()
    return from_dsn(postgres_dsn(f"t_{token}"))


def drop_postgresql_schema(token: str) -> None:
    import psycopg2

    connection = psycopg2.connect(postgres_dsn())
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "t_{token}" CASCADE')
    connection.close()


def redis_dsn(token: str) -> str:
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0?key_prefix=t_{token}:"


def redis(tmp: Path, token: str, request: pytest.FixtureRequest) -> Backend:
    require(listening(REDIS_HOST, REDIS_PORT), f"Redis on {REDIS_HOST}:{REDIS_PORT}")
    return from_dsn(redis_dsn(token))


def drop_redis_keys(token: str) -> None:
    import redis as redis_driver

    client = redis_driver.Redis(host=REDIS_HOST, port=REDIS_PORT)
    keys = list(client.scan_iter(match=f"t_{token}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _moto(request: pytest.FixtureRequest) -> MotoServer:
    request.getfixturevalue("aws_test_credentials")
    server: MotoServer = request.getfixturevalue("moto_server")
    return server


def dynamodb(tmp: Path, token: str, request: pytest.FixtureRequest) -> Backend:
    server = _moto(request)
    return from_dsn(f"dynamodb://T_{token}?create=true&region=us-east-1&endpoint_url={server.endpoint_url}")


def s3(tmp: Path, token: str, request: pytest.FixtureRequest) -> Backend:
    server = _moto(request)
    return from_dsn(f"s3://t-{token}/connections/?create=true&region=us-east-1&endpoint_url={server.endpoint_url}")
