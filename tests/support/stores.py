"""How tests reach each backend's store, one test's worth at a time.

Each store gets a dsn of its own for the token, written as a user would write it: a PostgreSQL
schema, a Redis key prefix, a DynamoDB table, an S3 bucket, a sqlite file.
"""

from __future__ import annotations

from collections.abc import Callable
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

#: Builds a dsn from (a fresh temporary directory, a unique token, the test's request).
DsnMaker = Callable[[Path, str, pytest.FixtureRequest], str]


def sqlite_dsn(tmp: Path, token: str, request: pytest.FixtureRequest) -> str:
    return f"sqlite://{tmp}/store.db"


def postgresql_dsn(tmp: Path, token: str, request: pytest.FixtureRequest) -> str:
    require(listening(POSTGRES_HOST, POSTGRES_PORT), f"PostgreSQL on {POSTGRES_HOST}:{POSTGRES_PORT}")
    import psycopg2

    connection = psycopg2.connect(postgres_dsn())
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "t_{token}"')
    connection.close()
    return postgres_dsn(f"t_{token}")


def drop_postgresql_schema(token: str) -> None:
    import psycopg2

    connection = psycopg2.connect(postgres_dsn())
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "t_{token}" CASCADE')
    connection.close()


def redis_dsn(tmp: Path, token: str, request: pytest.FixtureRequest) -> str:
    require(listening(REDIS_HOST, REDIS_PORT), f"Redis on {REDIS_HOST}:{REDIS_PORT}")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0?key_prefix=t_{token}:"


def drop_redis_keys(token: str) -> None:
    import redis as redis_driver

    client = redis_driver.Redis(host=REDIS_HOST, port=REDIS_PORT)
    keys = list(client.scan_iter(match=f"t_{token}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _moto(request: pytest.FixtureRequest) -> MotoServer:
    server: MotoServer = request.getfixturevalue("moto_server")
    return server


def dynamodb_dsn(tmp: Path, token: str, request: pytest.FixtureRequest) -> str:
    endpoint = _moto(request).endpoint_url
    return f"dynamodb://T_{token}?create=true&region=us-east-1&endpoint_url={endpoint}"


def s3_dsn(tmp: Path, token: str, request: pytest.FixtureRequest) -> str:
    endpoint = _moto(request).endpoint_url
    return f"s3://t-{token}/connections/?create=true&region=us-east-1&endpoint_url={endpoint}"


def _backend(dsn: DsnMaker) -> Callable[[Path, str, pytest.FixtureRequest], Backend]:
    return lambda tmp, token, request: from_dsn(dsn(tmp, token, request))


sqlite = _backend(sqlite_dsn)
postgresql = _backend(postgresql_dsn)
redis = _backend(redis_dsn)
dynamodb = _backend(dynamodb_dsn)
s3 = _backend(s3_dsn)


#: Every store by name: how to make its dsn, and how to clean up after it (None: nothing shared).
STORES: dict[str, tuple[DsnMaker, Callable[[str], None] | None]] = {
    "sqlite": (sqlite_dsn, None),
    "postgresql": (postgresql_dsn, drop_postgresql_schema),
    "redis": (redis_dsn, drop_redis_keys),
    "dynamodb": (dynamodb_dsn, None),
    "s3": (s3_dsn, None),
}
