"""One line per event, as a developer scans them: time, kind, connection or path, route, status, ms."""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO

_RESET = "\033[0m"
_DIM = "\033[2m"
_KIND = "\033[36m"
_STATUS = {2: "\033[32m", 3: "\033[36m", 4: "\033[33m", 5: "\033[31m"}


def wants_colour(stream: TextIO) -> bool:
    """Colours on a terminal, unless NO_COLOR (no-color.org) says otherwise."""
    return stream.isatty() and not os.environ.get("NO_COLOR")


class EventLog:
    def __init__(self, stream: TextIO | None = None, colour: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self._colour = wants_colour(self.stream) if colour is None else colour

    def event(
        self, kind: str, subject: str, route: str, status: int, duration_ms: float, *, note: str = ""
    ) -> None:
        """E.g. `12:00:01 MESSAGE    BFHPhfCWIAMCKlQ= $default     200    4 ms`."""
        stamp = time.strftime("%H:%M:%S")
        status_colour = _STATUS.get(status // 100, "")
        line = (
            f"{self._paint(_DIM, stamp)} {self._paint(_KIND, f'{kind:<10}')} {subject:<24} {route:<12} "
            f"{self._paint(status_colour, f'{status:>3}')} {duration_ms:>6.0f} ms"
        )
        if note:
            line += f"  {self._paint(_DIM, note)}"
        self.write(line)

    def write(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    def _paint(self, colour: str, text: str) -> str:
        return f"{colour}{text}{_RESET}" if self._colour and colour else text
