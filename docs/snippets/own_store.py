"""A store of your own: connections kept in this process's memory, under the `memory://` scheme.

Fit for tests only: every Lambda container has a memory of its own, so a deployed app needs a
store that all its containers reach.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import ClassVar

from asgiway.backends import Backend, ConnectionRecord, Dsn, register_backend


@dataclass
class Namespace:
    """What every backend built on one `memory://name` shares, as containers share one table."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    records: dict[str, ConnectionRecord] = field(default_factory=dict)
    memberships: set[tuple[str, str]] = field(default_factory=set)  # (connection id, room)


@register_backend
class MemoryBackend(Backend):
    schemes = ("memory",)
    namespaces: ClassVar[dict[str, Namespace]] = {}

    def __init__(self, name: str) -> None:
        self.name = name
        self.data = self.namespaces.setdefault(name, Namespace())

    @classmethod
    def from_dsn(cls, dsn: Dsn) -> MemoryBackend:
        # In memory://chat the name stands where a network store has its host.
        return cls(dsn.hosts[0][0] if dsn.hosts else "")

    def describe(self) -> str:
        return f"memory://{self.name}"

    def save(self, record: ConnectionRecord) -> None:
        with self.data.lock:
            self.data.records[record.connection_id] = record

    def update(self, record: ConnectionRecord) -> bool:
        with self.data.lock:
            stored = self._unexpired(record.connection_id)
            if stored is None:  # deleted by a DISCONNECT, or expired: never brought back
                return False
            # An ended connection stays ended, with the reason it ended for first.
            self.data.records[record.connection_id] = replace(record, ended=stored.ended or record.ended)
            return True

    def load(self, connection_id: str) -> ConnectionRecord | None:
        with self.data.lock:
            return self._unexpired(connection_id)

    def delete(self, connection_id: str) -> None:
        with self.data.lock:
            self.data.records.pop(connection_id, None)
            self.data.memberships = {pair for pair in self.data.memberships if pair[0] != connection_id}

    def join(self, connection_id: str, room: str) -> None:
        with self.data.lock:
            self.data.memberships.add((connection_id, room))

    def leave(self, connection_id: str, room: str) -> None:
        with self.data.lock:
            self.data.memberships.discard((connection_id, room))

    def members(self, room: str) -> list[str]:
        with self.data.lock:
            pairs = self.data.memberships
            return [member for member, joined in pairs if joined == room and self._live(member)]

    def rooms(self, connection_id: str) -> list[str]:
        with self.data.lock:
            if not self._live(connection_id):
                return []
            return [room for member, room in self.data.memberships if member == connection_id]

    def connections(self) -> list[str]:
        with self.data.lock:
            return [connection_id for connection_id in self.data.records if self._live(connection_id)]

    # `end` (a 410, or the app's close) is Backend's own, built from load, rooms, update and leave.

    def _unexpired(self, connection_id: str) -> ConnectionRecord | None:
        record = self.data.records.get(connection_id)
        return None if record is None or record.expired else record

    def _live(self, connection_id: str) -> bool:
        record = self._unexpired(connection_id)
        return record is not None and record.ended is None
