from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def dsn(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path / 'connections.db'}"
