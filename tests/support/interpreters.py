"""The Python interpreters this machine has, by version: for nox's sessions and the Lambda asset test.

An interpreter counts only when it runs and says it is the version asked for: a pyenv shim named
`python3.12` exists for every installed version but fails unless that version is selected, so a
name on PATH proves nothing by itself.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

#: The Pythons the runtime supports (pyproject's requires-python and classifiers say the same).
SUPPORTED_PYTHONS = ("3.11", "3.12", "3.13", "3.14")
#: Those CI must have: a missing one fails CI rather than skipping its tests. 3.14 joins when an
#: interpreter for it is on the machine CI runs on.
REQUIRED_PYTHONS = ("3.11", "3.12", "3.13")


@functools.cache
def find_python(version: str) -> Path | None:
    """An interpreter of `version` ("3.12"): on PATH, else in pyenv's versions; None if neither."""
    for candidate in _candidates(version):
        if _runs_as(candidate, version):
            return candidate
    return None


def _candidates(version: str) -> list[Path]:
    found: list[Path] = []
    on_path = shutil.which(f"python{version}")
    if on_path:
        found.append(Path(on_path))
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    # Newest patch release first: 3.12.10 before 3.12.9.
    installed = sorted(
        (pyenv_root / "versions").glob(f"{version}.*"),
        key=lambda path: tuple(int(part) if part.isdigit() else -1 for part in path.name.split(".")),
        reverse=True,
    )
    found.extend(path / "bin" / f"python{version}" for path in installed)
    return [path for path in found if path.is_file()]


def _runs_as(python: Path, version: str) -> bool:
    try:
        answer = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return answer.returncode == 0 and answer.stdout.strip() == version
