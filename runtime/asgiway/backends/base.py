"""The one interface every connection store implements.

A WebSocket connection lives longer than any Lambda invocation, so what the app saw at CONNECT
(its scope) and what it keeps per connection (its state) must live in a store. API Gateway's
`$disconnect` is best effort, so every record carries its own expiry and no reader ever sees an
expired one: API Gateway closes every connection after 2 hours at the latest.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from asgiway.backends.dsn import Dsn
from asgiway.exceptions import BackendError

#: API Gateway closes every WebSocket connection after 2 hours; records outlive that by a margin.
MAX_CONNECTION_SECONDS = 2 * 60 * 60
EXPIRY_MARGIN_SECONDS = 10 * 60
RECORD_LIFETIME_SECONDS = MAX_CONNECTION_SECONDS + EXPIRY_MARGIN_SECONDS

JSONObject = dict[str, Any]


def dump_json(value: JSONObject) -> str:
    """Compact, strict JSON (no NaN or Infinity), so that every store can hold what another holds.

    Text stays as it is, but for a lone surrogate (`"\\ud800"` in a client's JSON), which has no
    UTF-8 form: then the whole document is ASCII with escapes, which reads back the same.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text


@dataclass(frozen=True)
class ConnectionRecord:
    """What the store keeps about one WebSocket connection.

    `scope` is the JSON-safe part of the ASGI scope built at CONNECT; `state` the JSON-safe
    per-connection state; `expires_at` a Unix time in seconds after which the record is dead.
    """

    connection_id: str
    scope: JSONObject
    state: JSONObject = field(default_factory=dict)
    expires_at: float = field(default_factory=lambda: time.time() + RECORD_LIFETIME_SECONDS)

    def __post_init__(self) -> None:
        if not (isinstance(self.expires_at, int | float) and 0 < self.expires_at < 1e11):
            raise ValueError(f"expires_at must be a Unix time in seconds, not {self.expires_at!r}")

    @property
    def expired(self) -> bool:
        return self.expires_at <= time.time()

    @property
    def age(self) -> float:
        """Seconds since the record was first saved (its lifetime is counted from then)."""
        return time.time() - (self.expires_at - RECORD_LIFETIME_SECONDS)

    def document(self) -> str:
        """The record as one JSON document, for stores that keep it whole (Redis, S3)."""
        return dump_json({"scope": self.scope, "state": self.state, "expires_at": self.expires_at})

    @classmethod
    def from_document(cls, connection_id: str, document: str | bytes) -> ConnectionRecord:
        stored = json.loads(document)
        return cls(connection_id, stored["scope"], stored["state"], stored["expires_at"])

    @classmethod
    def from_columns(cls, connection_id: str, scope: str, state: str, expires_at: float) -> ConnectionRecord:
        """The record from stores that keep scope and state apart, as JSON text (SQL, DynamoDB)."""
        return cls(connection_id, json.loads(scope), json.loads(state), float(expires_at))


class Backend(ABC):
    """A store of connection records and room memberships.

    Methods are synchronous: drivers are, and a Lambda container serves one event at a time.
    Implementations import their driver lazily, connect on first use, reuse the connection across
    warm invocations, and must be safe to call from several threads. Connection ids and room names
    are opaque data (they may hold `=`, `/`, `%`, quotes or unicode), never syntax.
    """

    #: The dsn scheme(s) this backend serves, e.g. ("sqlite",).
    schemes: ClassVar[tuple[str, ...]]

    def check_names(self, **names: str) -> None:
        """BackendError for a connection id or room name that UTF-8 cannot hold (a lone
        surrogate), before anything is written; stores that encode names themselves need not."""
        for what, name in names.items():
            try:
                name.encode()
            except UnicodeEncodeError:
                raise BackendError(
                    f"{self.describe()}: the {what.replace('_', ' ')} {name!r} holds a lone surrogate, "
                    "which has no UTF-8 form; connection ids and room names must be valid Unicode"
                ) from None

    @classmethod
    @abstractmethod
    def from_dsn(cls, dsn: Dsn) -> Backend:
        """Build the backend from a parsed dsn, validating its options without connecting."""

    @abstractmethod
    def save(self, record: ConnectionRecord) -> None:
        """Insert or replace the record of `record.connection_id`; its memberships stay."""

    @abstractmethod
    def update(self, record: ConnectionRecord) -> bool:
        """Replace the record only while it is live; False, writing nothing, when it is not.

        A MESSAGE may end after a DISCONNECT in another container deleted the connection: its
        state must not bring the connection back. Atomic where the store allows it.
        """

    @abstractmethod
    def load(self, connection_id: str) -> ConnectionRecord | None:
        """The live record, or None when there is none or it has expired."""

    @abstractmethod
    def delete(self, connection_id: str) -> None:
        """Remove the record and every room membership of the connection; absent ids are fine."""

    @abstractmethod
    def join(self, connection_id: str, room: str) -> None:
        """Add the connection to the room (idempotent).

        A membership shows in `members` and `rooms` only while the connection's record is live,
        so a join made before the record is saved shows once it is saved.
        """

    @abstractmethod
    def leave(self, connection_id: str, room: str) -> None:
        """Remove the connection from the room (idempotent)."""

    @abstractmethod
    def members(self, room: str) -> list[str]:
        """The ids of the live connections in the room, in no particular order."""

    @abstractmethod
    def rooms(self, connection_id: str) -> list[str]:
        """The rooms the connection belongs to; none when its record is absent or expired."""

    @abstractmethod
    def connections(self) -> list[str]:
        """The ids of every live connection."""

    def close(self) -> None:  # noqa: B027 - optional hook, most stores need nothing
        """Release the driver's connection, if any."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"

    @abstractmethod
    def describe(self) -> str:
        """Where the store is, for logs and errors, with any password masked."""
