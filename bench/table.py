"""Medians, ratios and the Markdown table every benchmark prints."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def median_us(call: Callable[[], object], times: int, warmup: int = 50) -> float:
    """The median wall time of `call`, in microseconds, over `times` calls after `warmup`."""
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(times):
        started = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples) / 1000


@dataclass
class Table:
    title: str
    columns: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([_cell(cell) for cell in cells])

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        lines += ["", *self.notes] if self.notes else []
        return "\n".join(lines)


def ratio(ours: float, anchor: float) -> str:
    return f"{ours / anchor:.2f}x"


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "missed"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"
    return str(value)


def machine_note() -> str:
    """The machine, and whether other work was running on it when the table was measured."""
    import os
    import platform

    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    state = "idle" if load < 0.3 * cores else "NOT idle: other work was running"
    return (
        f"Machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}; "
        f"load average {load:.1f} at start ({state})."
    )
