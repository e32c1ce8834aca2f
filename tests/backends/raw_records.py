"""Everything a store holds, read past asgiway with each store's own client, as text to search.

What an attacker with the store (or a copy of it) reads: the sqlite file and its journals byte
for byte, every row of both PostgreSQL tables, every Redis key under the store's prefix with its
value, every DynamoDB item, every S3 object of the bucket with its key and metadata.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import boto3
import psycopg2
import redis as redis_driver

from asgiway.backends import Backend, from_dsn
from asgiway.backends.dynamodb import DynamoDBBackend
from asgiway.backends.postgresql import PostgreSQLBackend
from asgiway.backends.redis import RedisBackend
from asgiway.backends.s3 import S3Backend
from asgiway.backends.sqlite import SQLiteBackend

#: The SQL stores' two tables.
TABLES = ("asgiway_connections", "asgiway_rooms")
#: The files SQLite may write beside the database, whichever journal mode it is in.
SQLITE_SUFFIXES = ("", "-wal", "-journal", "-shm")


def everything_stored(dsn: str) -> str:
    """Every record, key and value the store of `dsn` holds, as one text."""
    backend = from_dsn(dsn)
    try:
        return _read(backend)
    finally:
        backend.close()


def _read(backend: Backend) -> str:
    if isinstance(backend, SQLiteBackend):
        return sqlite_bytes(backend.path)
    if isinstance(backend, PostgreSQLBackend):
        return postgresql_rows(backend.dsn.original)
    if isinstance(backend, RedisBackend):
        return redis_values(backend)
    if isinstance(backend, DynamoDBBackend):
        return dynamodb_items(backend)
    assert isinstance(backend, S3Backend), backend
    return s3_objects(backend)


def sqlite_bytes(path: str) -> str:
    """The database file and its journals, byte for byte: rows SQLite deleted but has not yet
    overwritten are in there too. Latin-1 maps each byte to one character."""
    found = [Path(path + suffix) for suffix in SQLITE_SUFFIXES]
    return "\n".join(file.read_bytes().decode("latin-1") for file in found if file.exists())


def rows(dsn: str) -> str:
    """Every row of both tables of a SQL store, as the database returns them."""
    backend = from_dsn(dsn)
    backend.close()
    if isinstance(backend, SQLiteBackend):
        return sqlite_rows(backend.path)
    assert isinstance(backend, PostgreSQLBackend), backend
    return postgresql_rows(backend.dsn.original)


def sqlite_rows(path: str) -> str:
    """Every row of both tables, through a connection of its own."""
    connection = sqlite3.connect(path)
    try:
        found = [row for table in TABLES for row in connection.execute(f"SELECT * FROM {table}").fetchall()]
    finally:
        connection.close()
    return "\n".join(repr(row) for row in found)


def postgresql_rows(dsn: str) -> str:
    """Every row of both tables, each column as PostgreSQL returns its text."""
    connection = psycopg2.connect(dsn)  # the dsn's search_path names the test's schema
    try:
        with connection.cursor() as cursor:
            found = []
            for table in TABLES:
                cursor.execute(f"SELECT * FROM {table}")
                found.extend(cursor.fetchall())
    finally:
        connection.close()
    return "\n".join(repr(row) for row in found)


def redis_values(backend: RedisBackend) -> str:
    """Every key under the store's prefix and its value, read by the key's type.

    Not DUMP: its serialization compresses (LZF) values of more than 20 bytes, so a search of
    its bytes would miss what is plainly stored.
    """
    client = redis_driver.Redis(host=backend.host, port=backend.port, db=backend.database)
    lines: list[str] = []
    try:
        for key in client.scan_iter(match=f"{backend.key_prefix}*", count=1000):
            found_type = client.type(key)
            kind = found_type.decode() if isinstance(found_type, bytes) else found_type
            if kind == "string":
                value: object = client.get(key)
            elif kind == "zset":
                value = client.zrange(key, 0, -1, withscores=True)
            elif kind == "hash":
                value = client.hgetall(key)
            elif kind == "set":
                value = client.smembers(key)
            else:
                assert kind == "list", (key, kind)
                value = client.lrange(key, 0, -1)
            lines.append(f"{key!r} {kind} {value!r}")
    finally:
        client.close()
    return "\n".join(lines)


def dynamodb_items(backend: DynamoDBBackend) -> str:
    """Every item of the table, every attribute, from a full scan."""
    client = boto3.session.Session().client(
        "dynamodb", region_name=backend.region, endpoint_url=backend.endpoint_url
    )
    try:
        items = [
            item
            for page in client.get_paginator("scan").paginate(TableName=backend.table, ConsistentRead=True)
            for item in page["Items"]
        ]
    finally:
        client.close()
    return "\n".join(json.dumps(item, ensure_ascii=False, default=str) for item in items)


def s3_objects(backend: S3Backend) -> str:
    """Every object of the bucket, under any prefix: its key, metadata and body."""
    client = boto3.session.Session().client(
        "s3", region_name=backend.region, endpoint_url=backend.endpoint_url
    )
    lines = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=backend.bucket):
            for listed in page.get("Contents", []):
                found = client.get_object(Bucket=backend.bucket, Key=listed["Key"])
                body = found["Body"].read().decode("utf-8")
                lines.append(f"{listed['Key']} {json.dumps(found['Metadata'])} {body}")
    finally:
        client.close()
    return "\n".join(lines)
