"""The dsn syntax of every scheme, its errors, and the promise never to show a password."""

from __future__ import annotations

import dataclasses

import pytest

from asgiway.backends import Dsn
from asgiway.exceptions import ConfigurationError

SECRET = "hunter2"


def fields(dsn: Dsn) -> dict[str, object]:
    return {
        "scheme": dsn.scheme,
        "username": dsn.username,
        "password": dsn.password,
        "hosts": dsn.hosts,
        "database": dsn.database,
        "path": dsn.path,
        "params": dict(dsn.params),
    }


def expected(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "username": None,
        "password": None,
        "hosts": (),
        "database": None,
        "path": "",
        "params": {},
    }
    return base | changes


GOOD = [
    # The seed's examples.
    ("sqlite://mydbfile.sqlite3", expected(scheme="sqlite", database="mydbfile.sqlite3")),
    (
        "postgresql://myuser:mysecret@my.host:5432/mydb",
        expected(
            scheme="postgresql",
            username="myuser",
            password="mysecret",
            hosts=(("my.host", 5432),),
            database="mydb",
        ),
    ),
    (
        "redis://:mysecret@my.host:6379/0",
        expected(scheme="redis", password="mysecret", hosts=(("my.host", 6379),), database="0"),
    ),
    ("dynamodb://mytable", expected(scheme="dynamodb", database="mytable")),
    ("s3://my-bucket-12345", expected(scheme="s3", database="my-bucket-12345")),
    # sqlite
    ("sqlite:///abs/path.db", expected(scheme="sqlite", database="/abs/path.db")),
    ("sqlite://relative/dir/file.db", expected(scheme="sqlite", database="relative/dir/file.db")),
    ("sqlite://:memory:", expected(scheme="sqlite", database=":memory:")),
    ("sqlite:///tmp/my%20chat%3F.db", expected(scheme="sqlite", database="/tmp/my chat?.db")),
    ("sqlite:///tmp/user@host.db", expected(scheme="sqlite", database="/tmp/user@host.db")),
    ("SQLite://Chat.DB", expected(scheme="sqlite", database="Chat.DB")),
    # postgresql: libpq's URI syntax
    ("postgresql://", expected(scheme="postgresql")),
    ("postgresql:///mydb", expected(scheme="postgresql", database="mydb")),
    ("postgres://localhost", expected(scheme="postgres", hosts=(("localhost", None),))),
    (
        "postgresql://other@localhost/otherdb?connect_timeout=10&application_name=myapp",
        expected(
            scheme="postgresql",
            username="other",
            hosts=(("localhost", None),),
            database="otherdb",
            params={"connect_timeout": "10", "application_name": "myapp"},
        ),
    ),
    (
        "postgresql://host1:123,host2:456/somedb?target_session_attrs=any",
        expected(
            scheme="postgresql",
            hosts=(("host1", 123), ("host2", 456)),
            database="somedb",
            params={"target_session_attrs": "any"},
        ),
    ),
    (
        "postgresql://u@h1,h2:5433,[2001:db8::1]:5434,[::1]/db",
        expected(
            scheme="postgresql",
            username="u",
            hosts=(("h1", None), ("h2", 5433), ("2001:db8::1", 5434), ("::1", None)),
            database="db",
        ),
    ),
    (
        "postgresql://us%40er:p%40ss%2Fw%3Ard%25@[fe80::1%25eth0]:5432/my%20db",
        expected(
            scheme="postgresql",
            username="us@er",
            password="p@ss/w:rd%",
            hosts=(("fe80::1%eth0", 5432),),
            database="my db",
        ),
    ),
    (
        "postgresql://%2Fvar%2Frun%2Fpostgresql/mydb",
        expected(scheme="postgresql", hosts=(("/var/run/postgresql", None),), database="mydb"),
    ),
    # libpq reads '?' and '#' in a password literally, and an '@' after the path as data.
    (
        "postgresql://u:pa?ss#w@h/db",
        expected(scheme="postgresql", username="u", password="pa?ss#w", hosts=(("h", None),), database="db"),
    ),
    (
        "postgresql://h/db?user=me@example.com",
        expected(
            scheme="postgresql",
            hosts=(("h", None),),
            database="db",
            params={"user": "me@example.com"},
        ),
    ),
    # redis
    ("redis://localhost", expected(scheme="redis", hosts=(("localhost", None),))),
    (
        f"redis://{SECRET}@cache.internal:6380/3",
        expected(scheme="redis", password=SECRET, hosts=(("cache.internal", 6380),), database="3"),
    ),
    (
        "rediss://default:p%3Aw%2F@[::1]:6379/15",
        expected(scheme="rediss", username="default", password="p:w/", hosts=(("::1", 6379),), database="15"),
    ),
    ("redis://h/", expected(scheme="redis", hosts=(("h", None),))),
    (
        "redis://h:6379/0?socket_timeout=5",
        expected(scheme="redis", hosts=(("h", 6379),), database="0", params={"socket_timeout": "5"}),
    ),
    # dynamodb: the table name keeps its case
    ("dynamodb://MyTable", expected(scheme="dynamodb", database="MyTable")),
    ("dynamodb://My.Table_v2-PROD", expected(scheme="dynamodb", database="My.Table_v2-PROD")),
    (
        "dynamodb://Connections?region=eu-west-1&endpoint_url=http://127.0.0.1:5000&create=true",
        expected(
            scheme="dynamodb",
            database="Connections",
            params={
                "region": "eu-west-1",
                "endpoint_url": "http://127.0.0.1:5000",
                "create": "true",
            },
        ),
    ),
    (
        "dynamodb://tbl?endpoint_url=https%3A%2F%2Fdynamodb.eu-west-1.amazonaws.com",
        expected(
            scheme="dynamodb",
            database="tbl",
            params={"endpoint_url": "https://dynamodb.eu-west-1.amazonaws.com"},
        ),
    ),
    # s3: the prefix ends with "/"
    ("s3://my.bucket-1/", expected(scheme="s3", database="my.bucket-1")),
    ("s3://bucket/asgiway", expected(scheme="s3", database="bucket", path="asgiway/")),
    ("s3://bucket/a/b/c/", expected(scheme="s3", database="bucket", path="a/b/c/")),
    ("s3://bucket/r%C3%A9seau/x%3Fy", expected(scheme="s3", database="bucket", path="réseau/x?y/")),
    (
        "s3://bucket/p?region=us-east-1&create=0",
        expected(
            scheme="s3",
            database="bucket",
            path="p/",
            params={"region": "us-east-1", "create": "0"},
        ),
    ),
    # A scheme asgiway does not know gets the generic URL syntax, for a third-party backend.
    (
        "mongodb://u:pw@h1:27017,h2/app/x?replicaSet=rs0",
        expected(
            scheme="mongodb",
            username="u",
            password="pw",
            hosts=(("h1", 27017), ("h2", None)),
            path="app/x",
            params={"replicaSet": "rs0"},
        ),
    ),
]


@pytest.mark.parametrize(("text", "want"), GOOD, ids=[text for text, _ in GOOD])
def test_parse(text: str, want: dict[str, object]) -> None:
    dsn = Dsn.parse(text)
    assert fields(dsn) == want
    assert dsn.original == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"postgresql://myuser:{SECRET}@my.host:5432/mydb", "postgresql://myuser:***@my.host:5432/mydb"),
        (f"redis://:{SECRET}@my.host:6379/0", "redis://:***@my.host:6379/0"),
        (f"redis://{SECRET}@my.host", "redis://***@my.host"),
        (f"rediss://me:{SECRET}@h", "rediss://me:***@h"),
        (f"postgresql://u:{SECRET}@h/db?user=x@y", "postgresql://u:***@h/db?user=x@y"),
        (
            f"postgresql://h/db?password={SECRET}&sslpassword={SECRET}&sslmode=require",
            "postgresql://h/db?password=***&sslpassword=***&sslmode=require",
        ),
        (f"postgresql://u:{SECRET}%40x@h", "postgresql://u:***@h"),
        ("postgresql://u:@h", "postgresql://u:***@h"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("dynamodb://MyTable?region=eu-west-1", "dynamodb://MyTable?region=eu-west-1"),
        (f"mongodb://u:{SECRET}@h/db?token={SECRET}", "mongodb://u:***@h/db?token=***"),
    ],
)
def test_redacted_hides_passwords(text: str, shown: str) -> None:
    dsn = Dsn.parse(text)
    assert dsn.redacted == shown
    assert str(dsn) == shown
    assert repr(dsn) == f"Dsn({shown!r})"


def test_the_original_keeps_the_password_for_the_driver() -> None:
    text = f"postgresql://u:{SECRET}@h/db"
    assert Dsn.parse(text).original == text


def test_surrounding_whitespace_is_ignored() -> None:
    assert Dsn.parse("  sqlite:///tmp/x.db\n").database == "/tmp/x.db"


def test_a_dsn_is_a_frozen_hashable_value() -> None:
    first = Dsn.parse("dynamodb://Table?region=eu-west-1")
    second = Dsn.parse("dynamodb://Table?region=eu-west-1")
    assert first == second
    assert hash(first) == hash(second)
    assert first != Dsn.parse("dynamodb://Other")
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.database = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        first.params["region"] = "us-east-1"  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "create"),
    [
        ("dynamodb://tbl", False),
        ("dynamodb://tbl?create=true", True),
        ("dynamodb://tbl?create=TRUE", True),
        ("dynamodb://tbl?create=1", True),
        ("dynamodb://tbl?create=false", False),
        ("s3://bucket?create=0", False),
        ("s3://bucket?create=True", True),
    ],
)
def test_create_flag(text: str, create: bool) -> None:
    assert Dsn.parse(text).create is create


def test_aws_options() -> None:
    dsn = Dsn.parse("s3://bucket/p/?region=eu-central-1&endpoint_url=http://localhost:9000")
    assert dsn.region == "eu-central-1"
    assert dsn.endpoint_url == "http://localhost:9000"
    plain = Dsn.parse("s3://bucket")
    assert (plain.region, plain.endpoint_url, plain.create) == (None, None, False)


BAD = [
    ("", "invalid dsn: the dsn is empty"),
    ("mydb.sqlite3", "invalid dsn: it does not start with '<scheme>://'"),
    (f"redis:/:{SECRET}@h", "invalid dsn: it does not start with '<scheme>://'"),
    ("1sql://x", "scheme '1sql' is not a URL scheme"),
    ("sqlite://x.db\nsqlite://y.db", "control character"),
    # The brief's own example.
    (
        f"redis://:{SECRET}@host:abc",
        "dsn 'redis://:***@host:abc': port 'abc' is not a number from 1 to 65535",
    ),
    ("redis://host:0", "port '0' is not a number from 1 to 65535"),
    ("redis://host:65536", "port '65536' is not a number from 1 to 65535"),
    ("redis://host:", "port '' is not a number"),
    ("redis://", "the host is missing"),
    (f"redis://:{SECRET}@:6379", "the host is missing"),
    ("redis://a,b:6380", "host list 'a,b:6380' names several hosts; a redis dsn takes one"),
    ("redis://h/zero", "database 'zero' is not a number"),
    ("redis://h/-1", "database '-1' is not a number"),
    ("redis://h/0/1", "database '0/1' is not a number"),
    ("redis://bad host", "host 'bad host' is not a host name"),
    ("redis://[::1", "IPv6 address '[::1' has no closing ']'"),
    ("redis://[not-v6]:1", "IPv6 address 'not-v6' is not valid"),
    ("redis://[::1]6379", "text '6379' after an IPv6 address is not ':port'"),
    (f"redis://:{SECRET}@h#frag", "the dsn has a '#': percent-encode it as %23"),
    (f"redis://:{SECRET}%zz@h", "the password has a '%' that is not followed by two hex digits"),
    (f"redis://:{SECRET}%ff@h", "the password has percent-escapes that are not UTF-8"),
    (f"redis://:{SECRET}%00@h", "the password holds a NUL character"),
    ("redis://h?a=1&&b=2", "the query has an empty parameter"),
    ("redis://h?flag", "query parameter 'flag' is not name=value"),
    ("redis://h?a=1&a=2", "query parameter 'a' is given twice"),
    # A '/', '?' or '@' left unencoded in a password: the error must not guess out loud.
    (f"redis://:pa/{SECRET}@host", "dsn 'redis://***@host': port is not a number"),
    (f"redis://:{SECRET}?x@host", "dsn 'redis://***@host': query parameter is not name=value"),
    (f"redis://me:12?{SECRET}@host", "(a '/', '?', '#' or '@' in a user name or password must"),
    (f"postgresql://u:pa/{SECRET}@h/db", "dsn 'postgresql://***@h/db': port is not a number"),
    (f"postgresql://u:12/{SECRET}@h/db", "database name has an '@': percent-encode it as %40"),
    ("postgresql://h:port/db", "port 'port' is not a number"),
    ("postgresql://h1:1,h2:x/db", "port 'x' is not a number"),
    ("postgresql://h/db?a=b=c", "query parameter 'a' has a second '=': percent-encode it as %3D"),
    (
        f"postgresql://h/db?x=%zz&password={SECRET}",
        "dsn 'postgresql://h/db?x=%zz&password=***': query parameter 'x' has a '%'",
    ),
    ("postgresql://u:pw@h/d%ZZb", "the database name has a '%'"),
    # sqlite
    ("sqlite://", "the file path is missing"),
    ("sqlite://?x=1", "the file path is missing"),
    ("sqlite://chat.db?timeout=5", "sqlite dsns take no query parameters, got 'timeout'"),
    ("sqlite://chat#1.db", "the dsn has a '#': percent-encode it as %23"),
    # dynamodb
    ("dynamodb://", "the table name is missing"),
    ("dynamodb://ab", "table name 'ab' is not a DynamoDB table name (3 to 255 letters"),
    ("dynamodb://" + "t" * 256, "is not a DynamoDB table name"),
    ("dynamodb://my table", "table name 'my table' is not a DynamoDB table name"),
    ("dynamodb://schema/table", "table name 'schema/table' is not a DynamoDB table name"),
    ("dynamodb://localhost:8000", "table name 'localhost:8000' is not a DynamoDB table name"),
    (
        f"dynamodb://key:{SECRET}@table",
        "dsn 'dynamodb://***@table': dynamodb dsns take no user name or password",
    ),
    ("dynamodb://table?regoin=eu-west-1", "'regoin' is not one of create, endpoint_url, region"),
    ("dynamodb://table?regoin=eu-west-1", "did you mean 'region'?"),
    ("dynamodb://table?create=yes", "create 'yes' is not one of true, false, 1, 0"),
    ("dynamodb://table?region=eu_west_1", "region 'eu_west_1' is not a region name"),
    ("dynamodb://table?endpoint_url=localhost:8000", "endpoint_url 'localhost:8000' is not an http"),
    (f"dynamodb://table?password={SECRET}", "query parameter 'password' is not one of"),
    # s3
    ("s3://", "the bucket name is missing"),
    ("s3:///prefix", "the bucket name is missing"),
    ("s3://My-Bucket", "bucket name 'My-Bucket' has capital letters"),
    ("s3://ab", "bucket name 'ab' is not 3 to 63 characters long"),
    ("s3://" + "b" * 64, "is not 3 to 63 characters long"),
    ("s3://my_bucket", "bucket name 'my_bucket' may hold only lowercase letters, digits"),
    ("s3://-bucket", "must begin and end with a letter or a digit"),
    ("s3://bucket-", "must begin and end with a letter or a digit"),
    ("s3://my..bucket", "has two adjacent periods"),
    ("s3://192.168.5.4", "is formatted as an IP address"),
    ("s3://xn--bucket", "uses a prefix or suffix that S3 reserves"),
    ("s3://sthree-bucket", "uses a prefix or suffix that S3 reserves"),
    ("s3://bucket-s3alias", "uses a prefix or suffix that S3 reserves"),
    ("s3://bucket--x-s3", "uses a prefix or suffix that S3 reserves"),
    ("s3://bucket/../other", "key prefix '../other' has an empty, '.' or '..' segment"),
    ("s3://bucket/a/%2E%2E/b", "key prefix 'a/../b' has an empty, '.' or '..' segment"),
    ("s3://bucket/a//b", "key prefix 'a//b' has an empty"),
    ("s3://bucket/./a", "has an empty, '.' or '..' segment"),
    ("s3://bucket/" + "k" * 1100, "longer than S3's 1024-byte key limit"),
    (f"s3://AKIA:{SECRET}@bucket", "dsn 's3://***@bucket': s3 dsns take no user name or password"),
    ("s3://bucket?create=maybe", "create 'maybe' is not one of true, false, 1, 0"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[text[:60] for text, _ in BAD])
def test_bad_dsn(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Dsn.parse(text)
    assert message in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_non_string() -> None:
    with pytest.raises(ConfigurationError, match="a dsn must be a string, not NoneType"):
        Dsn.parse(None)  # type: ignore[arg-type]


def test_a_hand_made_dsn_with_a_bad_original_still_hides_the_password() -> None:
    dsn = Dsn(scheme="redis", original=f"redis://u:{SECRET}/x@host:abc", password=SECRET)
    assert SECRET not in repr(dsn)
    assert SECRET not in str(dsn)
    assert repr(dsn) == "Dsn('redis://***@host:abc')"
