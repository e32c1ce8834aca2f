from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# --- Real AWS event payloads (see SOURCES.md beside them) -------------------------------------


def aws_events_dir() -> Path:
    """Where the recorded events live: $ASGIWAY_FIXTURES, else ../shared/fixtures/aws-events."""
    configured = os.environ.get("ASGIWAY_FIXTURES")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "aws-events"


@pytest.fixture
def aws_event() -> Callable[[str], dict[str, Any]]:
    """Loads a recorded event by file name, a fresh copy per call so a test may change it."""

    def load(name: str) -> dict[str, Any]:
        path = aws_events_dir() / name
        if not path.is_file():
            pytest.fail(f"No AWS event fixture {path}; set ASGIWAY_FIXTURES to its directory")
        event: dict[str, Any] = json.loads(path.read_text())
        return event

    return load
