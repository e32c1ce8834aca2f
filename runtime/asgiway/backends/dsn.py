"""The dsn: one string that says which store keeps the WebSocket connections, and where.

`Dsn.parse` checks the seed's syntax for the five built-in schemes and the generic URL syntax for
any other (a third-party backend's scheme), so a typo fails at the Adapter's construction instead of
at the first WebSocket event. Errors name the bad part; no error, `repr` or `str` ever shows a
password: they show `Dsn.redacted`, where it is `***`.

    sqlite://file.db                    a file relative to the working directory
    sqlite:///abs/path.db               an absolute path
    sqlite://:memory:                   private to one backend object, gone with it: for tests
    postgresql://[user[:password]@][host][:port][,host[:port]...][/dbname][?name=value&...]
    postgres://...                      the same (libpq's alias)
    redis://[[user:]password@]host[:port][/database]     rediss:// for TLS
    dynamodb://table[?region=..&endpoint_url=..&create=true]
    s3://bucket[/key/prefix/][?region=..&endpoint_url=..&create=true]

User names, passwords, host names, database names, file paths and key prefixes are percent-decoded;
a '/', '?', '#' or '@' in a password must be percent-encoded (%2F, %3F, %23, %40).
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from asgiway.exceptions import ConfigurationError

#: The schemes whose syntax `Dsn.parse` knows; any other scheme gets the generic URL syntax.
KNOWN_SCHEMES = ("sqlite", "postgresql", "postgres", "redis", "rediss", "dynamodb", "s3")

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PORT = re.compile(r"[0-9]{1,5}")
_REDIS_HOST = re.compile(r"[A-Za-z0-9._-]+")
_DYNAMODB_TABLE = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_S3_BUCKET_CHARACTERS = re.compile(r"[a-z0-9.-]+")
# S3 reserves these for access points, Multi-Region Access Points, directory and table buckets.
_S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_S3_MAX_KEY_BYTES = 1024
# botocore's own check of a region name: a DNS label that is not all digits.
_REGION = re.compile(r"(?![0-9]+$)(?!-)[a-zA-Z0-9-]{1,63}(?<!-)")
_SECRET_PARAMETER = re.compile(r"password|secret|token", re.IGNORECASE)
_MASK = "***"
_ENCODING_HINT = (
    " (a '/', '?', '#' or '@' in a user name or password must be percent-encoded: %2F, %3F, %23, %40)"
)


def _check_flag(value: str) -> str | None:
    if value.lower() in ("true", "false", "1", "0"):
        return None
    return "is not one of true, false, 1, 0"


def _check_region(value: str) -> str | None:
    return None if _REGION.fullmatch(value) else "is not a region name such as 'eu-west-1'"


def _check_endpoint_url(value: str) -> str | None:
    url = urlsplit(value)
    if url.scheme in ("http", "https") and url.netloc:
        return None
    return "is not an http:// or https:// URL"


# Each checker returns what is wrong with a value, or None when it is fine.
_AWS_PARAMETERS: dict[str, Callable[[str], str | None]] = {
    "region": _check_region,
    "endpoint_url": _check_endpoint_url,
    "create": _check_flag,
}
#: The query parameters each scheme accepts; schemes not listed pass theirs to their driver.
_KNOWN_PARAMETERS: dict[str, dict[str, Callable[[str], str | None]]] = {
    "sqlite": {},
    "dynamodb": _AWS_PARAMETERS,
    "s3": _AWS_PARAMETERS,
}


@dataclass(frozen=True, repr=False)
class Dsn:
    """A parsed, validated dsn. Build it with `Dsn.parse`.

    What each field holds, by scheme:

    - `database`: the SQLite file path (as written, percent-decoded), the PostgreSQL database
      name, the Redis database number (decimal digits), the DynamoDB table name (case kept),
      the S3 bucket name; None when the dsn gives none.
    - `path`: the S3 key prefix, "" or ending with "/"; for a scheme asgiway does not know, the
      decoded path after the host. "" otherwise.
    - `hosts`: (host, port or None) pairs, IPv6 addresses without their brackets; empty when the
      scheme has no host (sqlite, dynamodb, s3) or the dsn names none.
    - `params`: the decoded query parameters.
    - `original`: the dsn exactly as given (minus surrounding whitespace), for drivers that take
      the URL themselves, such as psycopg2. It holds the password: never log it, log `redacted`.
    """

    scheme: str
    original: str
    username: str | None = None
    password: str | None = None
    hosts: tuple[tuple[str, int | None], ...] = ()
    database: str | None = None
    path: str = ""
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    @classmethod
    def parse(cls, text: str) -> Dsn:
        """Parse and validate `text`; raise `ConfigurationError` naming the bad part."""
        if not isinstance(text, str):
            raise ConfigurationError(f"a dsn must be a string, not {type(text).__name__}")
        return _Parser(text.strip()).parse()

    @property
    def redacted(self) -> str:
        """The dsn with its password (and any password-like query parameter) replaced by ***."""
        parser = _Parser(self.original)
        # A Dsn built by hand from a bad text fails to parse: masked() then hides more, not less.
        with contextlib.suppress(ConfigurationError):
            parser.parse()
        return parser.masked()

    @property
    def region(self) -> str | None:
        """The AWS region of a dynamodb or s3 dsn; None means the AWS environment's default."""
        return self.params.get("region")

    @property
    def endpoint_url(self) -> str | None:
        """The AWS endpoint of a dynamodb or s3 dsn (moto, LocalStack, a VPC endpoint)."""
        return self.params.get("endpoint_url")

    @property
    def create(self) -> bool:
        """Whether a dynamodb or s3 backend creates its table or bucket when it is missing."""
        return self.params.get("create", "false").lower() in ("true", "1")

    def __repr__(self) -> str:
        return f"Dsn({self.redacted!r})"

    def __str__(self) -> str:
        return self.redacted


class _Invalid(Exception):
    """A syntax error found by `_Parser`; `message` may hold `{part}`, where the bad text goes."""

    def __init__(self, message: str, part: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.part = part


def _decode(text: str, what: str) -> str:
    """Strictly percent-decode `text` (UTF-8); `what` names it in the error, never its content."""
    if _BAD_PERCENT.search(text):
        raise _Invalid(f"{what} has a '%' that is not followed by two hex digits")
    try:
        decoded = unquote_to_bytes(text).decode()
    except UnicodeDecodeError:
        raise _Invalid(f"{what} has percent-escapes that are not UTF-8") from None
    if "\0" in decoded:
        raise _Invalid(f"{what} holds a NUL character (%00)")
    return decoded


class _Parser:
    """One parse of one dsn text, which finds every secret before anything can fail.

    `_locate` runs first and never raises: it finds where the user name and password end
    (`userinfo_end`, the index of their '@', -1 when there are none), where the query starts
    (`query_start`) and the spans of `text` that must never be shown (`secrets`). Only then does
    validation start, so every error can show the dsn masked.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.scheme = ""
        self.secrets: list[tuple[int, int]] = []
        self.userinfo_end = -1
        self.query_start = len(text)
        self.located = False
        self.failed = False

    def parse(self) -> Dsn:
        try:
            return self._parse()
        except _Invalid as invalid:
            self.failed = True
            raise ConfigurationError(self._describe(invalid)) from None

    def masked(self) -> str:
        """The text with every secret replaced by ***, once `parse` has run.

        When the parse failed and an '@' follows the user name and password (or comes where there
        are none), an unencoded '/', '?' or '#' may have split a password in the wrong place: then
        everything between '://' and the last '@' is hidden too.
        """
        if not self.located:
            return _MASK
        spans = sorted(self.secrets)
        if self.failed and self._ambiguous:
            spans = sorted([*spans, (len(self.scheme) + 3, self.text.rindex("@"))])
        pieces, shown_from = [], 0
        for start, end in spans:
            if start >= shown_from:
                pieces += [self.text[shown_from:start], _MASK]
            shown_from = max(shown_from, end)
        return "".join([*pieces, self.text[shown_from:]])

    @property
    def _ambiguous(self) -> bool:
        after = max(self.userinfo_end + 1, len(self.scheme) + 3)
        return self.scheme != "sqlite" and "@" in self.text[after:]

    def _describe(self, invalid: _Invalid) -> str:
        if not self.located:
            return f"invalid dsn: {invalid.message}"
        hidden = self.failed and self._ambiguous
        part = "" if hidden or invalid.part is None else f" {invalid.part!r}"
        detail = invalid.message.replace(" {part}", part)
        hint = _ENCODING_HINT if hidden and self.scheme not in ("dynamodb", "s3") else ""
        return f"dsn {self.masked()!r}: {detail}{hint}"

    def _parse(self) -> Dsn:
        text = self.text
        if not text:
            raise _Invalid("the dsn is empty; expected e.g. 'sqlite:///tmp/asgiway.db'")
        scheme, separator, _ = text.partition("://")
        if not separator:
            raise _Invalid("it does not start with '<scheme>://', e.g. 'sqlite://file.db'")
        self.scheme = scheme = scheme.lower()
        start = len(scheme) + len(separator)
        self._locate(start)
        if any(ord(character) < 32 or ord(character) == 127 for character in text):
            raise _Invalid("the dsn contains a control character (a newline?)")
        if not _SCHEME.fullmatch(scheme):
            raise _Invalid("scheme {part} is not a URL scheme", scheme)
        # Only libpq reads '#' as a plain character; elsewhere it would start a fragment.
        if scheme not in ("postgresql", "postgres") and "#" in text[start:]:
            raise _Invalid("the dsn has a '#': percent-encode it as %23")
        if scheme == "sqlite":
            return self._sqlite(start)
        if scheme in ("postgresql", "postgres"):
            return self._postgresql()
        if scheme in ("redis", "rediss"):
            return self._redis()
        if scheme == "dynamodb":
            return self._dynamodb(start)
        if scheme == "s3":
            return self._s3(start)
        return self._generic()

    def _locate(self, start: int) -> None:
        text, scheme = self.text, self.scheme
        at = -1
        if scheme in ("postgresql", "postgres"):
            # libpq's rule, so that we mask what psycopg2 will read as the password: the user
            # name and password end at the first '@' met before any '/', even inside a query.
            first = _first_of(text, "@/", start)
            if first < len(text) and text[first] == "@":
                at = first
        elif scheme not in ("sqlite", "dynamodb", "s3"):
            at = text.rfind("@", start, _first_of(text, "/?#", start))
        self.userinfo_end = at
        if at >= 0:
            colon = text.find(":", start, at)
            if colon >= 0:
                self.secrets.append((colon + 1, at))
            elif scheme in ("redis", "rediss"):
                # The seed's syntax is redis://[[user:]password@]host: a lone word is the password.
                self.secrets.append((start, at))
        self.query_start = _first_of(text, "?", at + 1 if at >= 0 else start)
        offset = self.query_start + 1
        for piece in text[offset:].split("&"):
            raw_name, _, raw_value = piece.partition("=")
            if _SECRET_PARAMETER.search(unquote(raw_name)):
                value_start = offset + len(raw_name) + 1
                self.secrets.append((value_start, value_start + len(raw_value)))
            offset += len(piece) + 1
        self.located = True

    # Schemes, one method each; `start` is where the text after '://' begins.

    def _sqlite(self, start: int) -> Dsn:
        path = _decode(self.text[start : self.query_start], "the file path")
        if not path:
            raise _Invalid("the file path is missing, e.g. 'sqlite:///tmp/asgiway.db'")
        return Dsn(scheme=self.scheme, original=self.text, database=path, params=self._params())

    def _postgresql(self) -> Dsn:
        text, end = self.text, self.query_start
        username, password, start = self._userinfo()
        params = self._params(extra_equals_allowed=False)
        authority_end = _first_of(text, "/", start, end)
        hosts = self._hosts(start, authority_end, single=False, host_required=False)
        database = None
        if authority_end < end:
            name = text[authority_end + 1 : end]
            if "@" in name:
                raise _Invalid("database name {part} has an '@': percent-encode it as %40", name)
            database = _decode(name, "the database name") or None
        return Dsn(
            scheme=self.scheme,
            original=text,
            username=username,
            password=password,
            hosts=hosts,
            database=database,
            params=params,
        )

    def _redis(self) -> Dsn:
        text, end = self.text, self.query_start
        username, password, start = self._userinfo()
        params = self._params()
        authority_end = _first_of(text, "/", start, end)
        hosts = self._hosts(start, authority_end, single=True, host_required=True)
        database = None
        number = text[authority_end + 1 : end]
        if number:
            if not (number.isascii() and number.isdigit()):
                raise _Invalid("database {part} is not a number", number)
            database = str(int(number))
        return Dsn(
            scheme=self.scheme,
            original=text,
            username=username,
            password=password,
            hosts=hosts,
            database=database,
            params=params,
        )

    def _dynamodb(self, start: int) -> Dsn:
        table = self.text[start : self.query_start]
        self._reject_userinfo(table)
        params = self._params()
        if not table:
            raise _Invalid("the table name is missing, e.g. 'dynamodb://asgiway-connections'")
        if not _DYNAMODB_TABLE.fullmatch(table):
            raise _Invalid(
                "table name {part} is not a DynamoDB table name (3 to 255 letters, digits, '_', '-' or '.')",
                table,
            )
        return Dsn(scheme=self.scheme, original=self.text, database=table, params=params)

    def _s3(self, start: int) -> Dsn:
        end = self.query_start
        slash = _first_of(self.text, "/", start, end)
        bucket = self.text[start:slash]
        self._reject_userinfo(bucket)
        params = self._params()
        _check_bucket(bucket)
        prefix = _normalise_prefix(self.text[slash + 1 : end])
        return Dsn(scheme=self.scheme, original=self.text, database=bucket, path=prefix, params=params)

    def _generic(self) -> Dsn:
        """RFC 3986 for schemes asgiway does not know: their backend validates the rest."""
        text, end = self.text, self.query_start
        username, password, start = self._userinfo()
        params = self._params()
        authority_end = _first_of(text, "/", start, end)
        hosts = self._hosts(start, authority_end, single=False, host_required=False)
        path = _decode(text[authority_end + 1 : end], "the path")
        return Dsn(
            scheme=self.scheme,
            original=text,
            username=username,
            password=password,
            hosts=hosts,
            path=path,
            params=params,
        )

    # Pieces shared by the schemes.

    def _reject_userinfo(self, name: str) -> None:
        if "@" in name:
            raise _Invalid(
                f"{self.scheme} dsns take no user name or password: credentials come from the"
                " AWS environment (the Lambda function's role)"
            )

    def _userinfo(self) -> tuple[str | None, str | None, int]:
        """The user name and password `_locate` found, and where the hosts start."""
        start = len(self.scheme) + 3
        at = self.userinfo_end
        if at < 0:
            return None, None, start
        user, colon, secret = self.text[start:at].partition(":")
        if not colon and self.scheme in ("redis", "rediss"):
            user, secret, colon = "", user, ":"
        password = _decode(secret, "the password") if colon else None
        return _decode(user, "the user name") or None, password, at + 1

    def _hosts(
        self, start: int, end: int, *, single: bool, host_required: bool
    ) -> tuple[tuple[str, int | None], ...]:
        spec = self.text[start:end]
        if not spec:
            if host_required:
                raise _Invalid("the host is missing, e.g. 'localhost:6379'")
            return ()
        entries = spec.split(",")
        if single and len(entries) > 1:
            raise _Invalid("host list {part} names several hosts; a redis dsn takes one", spec)
        hosts = tuple(self._host(entry) for entry in entries)
        if host_required and not hosts[0][0]:
            raise _Invalid("the host is missing, e.g. 'localhost:6379'")
        return hosts

    def _host(self, entry: str) -> tuple[str, int | None]:
        if entry.startswith("["):
            address, bracket, rest = entry[1:].partition("]")
            if not bracket:
                raise _Invalid("IPv6 address {part} has no closing ']'", entry)
            host = _decode(address, "the IPv6 address")
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise _Invalid("IPv6 address {part} is not valid", address) from None
            if rest and not rest.startswith(":"):
                raise _Invalid("text {part} after an IPv6 address is not ':port'", rest)
            has_port, port_text = bool(rest), rest[1:]
        else:
            raw_host, colon, port_text = entry.partition(":")
            host, has_port = _decode(raw_host, "the host"), bool(colon)
            if self.scheme in ("redis", "rediss") and host and not _REDIS_HOST.fullmatch(host):
                raise _Invalid("host {part} is not a host name or an IP address", raw_host)
        if not has_port:
            return host, None
        if not _PORT.fullmatch(port_text) or not 0 < int(port_text) < 65536:
            raise _Invalid("port {part} is not a number from 1 to 65535", port_text)
        return host, int(port_text)

    def _params(self, *, extra_equals_allowed: bool = True) -> Mapping[str, str]:
        """The decoded query parameters, checked against the scheme's known ones if it has any."""
        params: dict[str, str] = {}
        if self.query_start < len(self.text):
            for piece in self.text[self.query_start + 1 :].split("&"):
                raw_name, equals, raw_value = piece.partition("=")
                if not piece:
                    raise _Invalid("the query has an empty parameter ('&&', or '&' at its end)")
                if not equals or not raw_name:
                    raise _Invalid("query parameter {part} is not name=value", raw_name)
                name = _decode(raw_name, "a query parameter name")
                if "=" in raw_value and not extra_equals_allowed:
                    raise _Invalid("query parameter {part} has a second '=': percent-encode it as %3D", name)
                if name in params:
                    raise _Invalid("query parameter {part} is given twice", name)
                params[name] = _decode(raw_value, f"query parameter {name!r}")
        self._check_params(params)
        return MappingProxyType(params)

    def _check_params(self, params: Mapping[str, str]) -> None:
        known = _KNOWN_PARAMETERS.get(self.scheme)
        if known is None:
            return
        for name, value in params.items():
            check = known.get(name)
            if check is None and not known:
                raise _Invalid(f"{self.scheme} dsns take no query parameters, got {{part}}", name)
            if check is None:
                raise _Invalid(
                    f"query parameter {{part}} is not one of {', '.join(sorted(known))}"
                    f"{did_you_mean(name, sorted(known))}",
                    name,
                )
            problem = check(value)
            if problem:
                raise _Invalid(f"{name} {{part}} {problem}", value)


def _first_of(text: str, characters: str, start: int, end: int | None = None) -> int:
    """The index of the first of `characters` in text[start:end], or `end` when there is none."""
    stop = len(text) if end is None else end
    found = [i for i in (text.find(c, start, stop) for c in characters) if i >= 0]
    return min(found, default=stop)


def _check_bucket(bucket: str) -> None:
    """Apply S3's naming rules for general purpose buckets."""
    if not bucket:
        raise _Invalid("the bucket name is missing, e.g. 's3://my-bucket/asgiway/'")
    problem = None
    if bucket.lower() != bucket:
        problem = "has capital letters; S3 bucket names are lowercase"
    elif not 3 <= len(bucket) <= 63:
        problem = "is not 3 to 63 characters long"
    elif not _S3_BUCKET_CHARACTERS.fullmatch(bucket):
        problem = "may hold only lowercase letters, digits, '.' and '-'"
    elif not (bucket[0].isalnum() and bucket[-1].isalnum()):
        problem = "must begin and end with a letter or a digit"
    elif ".." in bucket:
        problem = "has two adjacent periods"
    elif _is_ip_address(bucket):
        problem = "is formatted as an IP address"
    elif bucket.startswith(_S3_RESERVED_PREFIXES) or bucket.endswith(_S3_RESERVED_SUFFIXES):
        problem = "uses a prefix or suffix that S3 reserves"
    if problem:
        raise _Invalid("bucket name {part} " + problem, bucket)


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def _normalise_prefix(raw: str) -> str:
    """The key prefix, decoded, with no empty, '.' or '..' segment, ending with '/' unless empty."""
    prefix = _decode(raw, "the key prefix")
    segments = prefix.removesuffix("/").split("/")
    if segments == [""]:
        return ""
    for segment in segments:
        if segment in ("", ".", ".."):
            raise _Invalid(
                "key prefix {part} has an empty, '.' or '..' segment; S3 keys are not paths",
                prefix,
            )
    normalised = "/".join(segments) + "/"
    if len(normalised.encode()) > _S3_MAX_KEY_BYTES:
        raise _Invalid(f"the key prefix is longer than S3's {_S3_MAX_KEY_BYTES}-byte key limit")
    return normalised


def did_you_mean(word: str, choices: list[str]) -> str:
    """ "; did you mean 'x'?" when one of `choices` is close to `word`, else ""."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
