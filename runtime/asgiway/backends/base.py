"""The one interface every connection store implements.

A WebSocket connection lives longer than any Lambda invocation, so what the app saw at CONNECT
(its scope) and what it keeps per connection (its state) must live in a store. API Gateway's
`$disconnect` is best effort, so every record carries its own expiry and no reader ever sees an
expired one: API Gateway closes every connection after 2 hours at the latest.

A connection can end before its `$disconnect` arrives: @connections answers 410 GoneException
once the peer is gone, and the app may close it. Its record then stays, *ended*, until that
DISCONNECT (which replays the app once with the record's scope and state, then deletes it) or its
expiry: out of every room and left out of every listing, so no broadcast reaches it, while `load`
still returns it, with `ended` saying why.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from asgiway.backends.dsn import Dsn
from asgiway.exceptions import BackendError

#: API Gateway closes every WebSocket connection after 2 hours; records outlive that by a margin.
MAX_CONNECTION_SECONDS = 2 * 60 * 60
EXPIRY_MARGIN_SECONDS = 10 * 60
RECORD_LIFETIME_SECONDS = MAX_CONNECTION_SECONDS + EXPIRY_MARGIN_SECONDS

#: Why a connection ended before its `$disconnect`: @connections answered 410 GoneException (the
#: client is gone, and API Gateway still sends its `$disconnect`), or the app closed it.
GONE = "gone"
CLOSED = "closed"
ENDED_REASONS = (GONE, CLOSED)

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


def check_reason(reason: str | None) -> None:
    """ValueError unless `reason` is None (live) or one of ENDED_REASONS."""
    if reason is not None and reason not in ENDED_REASONS:
        raise ValueError(
            f"ended must be None or one of {', '.join(map(repr, ENDED_REASONS))}, not {reason!r}"
        )


@dataclass(frozen=True)
class ConnectionRecord:
    """What the store keeps about one WebSocket connection.

    `scope` is the JSON-safe part of the ASGI scope built at CONNECT; `state` the JSON-safe
    per-connection state; `expires_at` a Unix time in seconds after which the record is dead;
    `ended` None while the connection is live, else why it ended (GONE or CLOSED).
    """

    connection_id: str
    scope: JSONObject
    state: JSONObject = field(default_factory=dict)
    expires_at: float = field(default_factory=lambda: time.time() + RECORD_LIFETIME_SECONDS)
    ended: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.expires_at, int | float) and 0 < self.expires_at < 1e11):
            raise ValueError(f"expires_at must be a Unix time in seconds, not {self.expires_at!r}")
        check_reason(self.ended)

    @property
    def expired(self) -> bool:
        return self.expires_at <= time.time()

    @property
    def age(self) -> float:
        """Seconds since the record was first saved (its lifetime is counted from then)."""
        return time.time() - (self.expires_at - RECORD_LIFETIME_SECONDS)

    def document(self) -> str:
        """The record as one JSON document, for stores that keep it whole (Redis, S3).

        `ended` is there only when set, and then first; `expires_at` always comes last. A live
        record's document is thus what versions before `ended` wrote, and the Redis store's
        scripts find both fields without decoding the JSON (see asgiway.backends.redis).
        """
        ended = {} if self.ended is None else {"ended": self.ended}
        return dump_json({**ended, "scope": self.scope, "state": self.state, "expires_at": self.expires_at})

    @classmethod
    def from_document(cls, connection_id: str, document: str | bytes) -> ConnectionRecord:
        """The record from `document`; one written before `ended` existed is live."""
        stored = json.loads(document)
        return cls(connection_id, stored["scope"], stored["state"], stored["expires_at"], stored.get("ended"))

    @classmethod
    def from_columns(
        cls, connection_id: str, scope: str, state: str, expires_at: float, ended: str | None = None
    ) -> ConnectionRecord:
        """The record from stores that keep scope and state apart, as JSON text (SQL, DynamoDB)."""
        return cls(connection_id, json.loads(scope), json.loads(state), float(expires_at), ended)


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
        """Insert or replace the record of `record.connection_id`, `ended` as the record has it;
        its memberships stay (those of an ended record stay invisible)."""

    @abstractmethod
    def update(self, record: ConnectionRecord) -> bool:
        """Replace the record only while it has not expired; False, writing nothing, when it has
        or when there is none.

        A MESSAGE may end after a DISCONNECT in another container deleted the connection: its
        state must not bring the connection back. Nor may it make an ended connection live
        again: `ended` goes from None to a reason, never back, so the record written keeps the
        reason the store holds (the first one), else takes the record's own. Atomic where the
        store allows it.
        """

    @abstractmethod
    def load(self, connection_id: str) -> ConnectionRecord | None:
        """The record, live or ended, or None when there is none or it has expired."""

    @abstractmethod
    def delete(self, connection_id: str) -> None:
        """Remove the record and every room membership of the connection; absent ids are fine."""

    def end(self, connection_id: str, reason: str) -> bool:
        """Mark the connection's live record ended with `reason` (GONE or CLOSED) and remove
        every room membership of it; False, writing nothing, when there is no live record.

        The record, its scope, state and expiry, stays for the DISCONNECT to come: `load`
        returns it with `ended` set, while `members`, `connections` and `rooms` leave it out from
        then on. A record already ended keeps its first reason (and the answer is True).

        The built-in stores do it natively, atomically where the store allows. This default,
        for backends that do not, is built from `load`, `rooms`, `update` and `leave`, so it is
        not atomic: a `join` between its `rooms` and its `update` leaves a membership behind, and
        an `update` between its `load` and its own loses its state to the one loaded. It is
        correct only for a backend that keeps `ended` with the record (`document()` and
        `from_document()` do), whose `update` never turns an ended record live again, and whose
        `members` and `connections` leave out records whose `ended` is set.
        """
        check_reason(reason)
        record = self.load(connection_id)
        if record is None:
            return False
        rooms = self.rooms(connection_id)  # read while still live: an ended record has none
        if record.ended is None and not self.update(replace(record, ended=reason)):
            return False
        for room in rooms:
            self.leave(connection_id, room)
        return True

    @abstractmethod
    def join(self, connection_id: str, room: str) -> None:
        """Add the connection to the room (idempotent).

        A membership shows in `members` and `rooms` only while the connection's record is live
        (saved, not expired, not ended), so a join made before the record is saved shows once
        it is saved, and one made after the connection ended never shows.
        """

    @abstractmethod
    def leave(self, connection_id: str, room: str) -> None:
        """Remove the connection from the room (idempotent)."""

    @abstractmethod
    def members(self, room: str) -> list[str]:
        """The ids of the live connections (not ended) in the room, in no particular order."""

    @abstractmethod
    def rooms(self, connection_id: str) -> list[str]:
        """The rooms the connection belongs to; none when its record is absent, expired or ended."""

    @abstractmethod
    def connections(self) -> list[str]:
        """The ids of every live connection (not ended)."""

    def close(self) -> None:  # noqa: B027 - optional hook, most stores need nothing
        """Release the driver's connection, if any."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"

    @abstractmethod
    def describe(self) -> str:
        """Where the store is, for logs and errors, with any password masked."""
