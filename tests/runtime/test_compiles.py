"""Every module compiles on every supported Python this machine has.

Python 3.13 began dedenting docstrings at compile time, which encodes them: a lone surrogate in a
docstring ("\\ud800" written unescaped) then fails the import of its module on 3.13 and later while
3.11 and 3.12 load it fine. Compiling is how such a module fails, so each interpreter compiles
every file itself (without writing bytecode into the tree).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.interpreters import SUPPORTED_PYTHONS, find_python

ROOT = Path(__file__).resolve().parents[2]
#: Everything that ships or that users run: the runtime, the construct, the examples.
SOURCES = ("runtime/asgiway", "infra", "examples")

COMPILE_EACH = """
import json, sys
failures = []
for path in json.load(sys.stdin):
    try:
        with open(path, encoding="utf-8") as source:
            compile(source.read(), path, "exec", dont_inherit=True)
    except Exception as exc:
        failures.append(f"{path}: {type(exc).__name__}: {exc}")
print(json.dumps(failures))
"""


def python_files() -> list[str]:
    return sorted(str(path) for folder in SOURCES for path in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("version", SUPPORTED_PYTHONS)
def test_every_module_compiles_on_python(version: str) -> None:
    python = find_python(version)
    if python is None:
        pytest.skip(f"no interpreter for Python {version} on this machine (nox's `interpreters` lists them)")
    files = python_files()
    assert str(ROOT / "runtime/asgiway/adapter.py") in files, "the search found the sources"
    finished = subprocess.run(
        [python, "-I", "-c", COMPILE_EACH],
        input=json.dumps(files),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout) == []
