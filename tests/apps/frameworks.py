"""The frameworks' documented echo apps in tests/apps, as the parametrized tests (and bench/) drive them.

Each entry says where the app is (an import target, as `asgiway dev` takes it), the path its
WebSocket route is mounted at, and what it answers to a frame. Channels' apps configure Django
on import, so no test module imports them directly.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def _text(number: int) -> str:
    return f"message {number}"


def _json(number: int) -> str:
    return json.dumps({"n": str(number)})


def _same(frame: str) -> Any:
    return frame


def _read_text(frame: str | bytes) -> Any:
    return frame.decode() if isinstance(frame, bytes) else frame


def _read_json(frame: str | bytes) -> Any:
    return json.loads(frame)


@dataclass(frozen=True)
class EchoApp:
    """A documented app that answers each frame with one frame."""

    name: str
    target: str
    websocket_path: str
    #: The frame sent as message number n, and what the app answers it with (as `read` reads it).
    frame: Callable[[int], str] = _text
    answer: Callable[[str], Any] = _same
    #: How a frame is read for comparison: JSON apps' spacing is their serializer's business.
    read: Callable[[str | bytes], Any] = _read_text
    #: What the app's DISCONNECT answers: Channels' documented echo consumers have no disconnect
    #: handler, so they raise at the real disconnect, as on any server.
    disconnect_status: int = 200

    def expected(self, numbers: range) -> list[Any]:
        return [self.answer(self.frame(number)) for number in numbers]

    def load(self) -> Any:
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


def _echoed_json(frame: str) -> Any:
    return {"echo": json.loads(frame)}


ECHO_APPS = [
    EchoApp("starlette", "tests.apps.starlette_json:app", "/ws", _json, _echoed_json, _read_json),
    EchoApp("fastapi", "tests.apps.fastapi_echo:app", "/ws", answer="Message text was: {}".format),
    EchoApp("quart", "tests.apps.quart_echo:app", "/ws"),
    EchoApp("quart-cancelled-error", "tests.apps.quart_disconnect:app", "/ws"),
    EchoApp("litestar-listener", "tests.apps.litestar_listener:app", "/"),
    EchoApp("litestar-listener-sync", "tests.apps.litestar_listener_sync:app", "/"),
    EchoApp("litestar-json", "tests.apps.litestar_listener_json:app", "/", _json, json.loads, _read_json),
    EchoApp("channels-sync", "tests.apps.channels_echo_sync:application", "/", disconnect_status=500),
    EchoApp("channels-async", "tests.apps.channels_echo_async:application", "/", disconnect_status=500),
]


def by_name(name: str) -> EchoApp:
    return next(app for app in ECHO_APPS if app.name == name)
