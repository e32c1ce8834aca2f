"""Medians, ratios and the Markdown table every benchmark prints."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
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


def machine_note() -> str:
    """The machine, and whether other work was running on it when the table was measured."""
    cores = os.cpu_count() or 1
    load = os.getloadavg()[0]
    state = "idle" if load < 0.3 * cores else "NOT idle: other work was running"
    return (
        f"Machine: {platform.machine()}, {cores} cores, Python {platform.python_version()}; "
        f"load average {load:.1f} at start ({state})."
    )


def interleaved_medians_us(
    calls: Mapping[str, Callable[[], object]], times: int, rounds: int = 20, warmup: int = 50
) -> dict[str, float]:
    """The median wall time of each call, in µs, over `times` calls taken in `rounds` turns: a
    machine that gets busier or quieter during the run weighs on every call alike."""
    samples: dict[str, list[int]] = {name: [] for name in calls}
    for call in calls.values():
        for _ in range(warmup):
            call()
    for _ in range(rounds):
        for name, call in calls.items():
            taken = samples[name]
            for _ in range(times // rounds):
                started = time.perf_counter_ns()
                call()
                taken.append(time.perf_counter_ns() - started)
    return {name: statistics.median(taken) / 1000 for name, taken in samples.items()}


@dataclass
class Table:
    """One benchmark's figures; made before measuring, so that `machine` says how busy the machine
    was while they were taken."""

    title: str
    columns: Sequence[str]
    #: What the figures are measured against, in this same run.
    anchor: str
    rows: list[Sequence[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    machine: str = field(default_factory=machine_note)

    def add(self, *cells: object) -> None:
        self.rows.append([_cell(cell) for cell in cells])

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| " + " | ".join(self.columns) + " |"]
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        lines += ["", *self.notes] if self.notes else []
        lines += ["", f"Anchor: {self.anchor}. {self.machine}"]
        return "\n".join(lines)


def ratio(ours: float, anchor: float) -> str:
    return f"{ours / anchor:.2f}x"


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "missed"


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"
    return str(value)
