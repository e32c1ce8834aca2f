"""The suite on every Python the runtime supports: `nox` runs a `tests` session per interpreter.

Each session runs every test that needs neither the CDK (tests/infra: its jsii runtime and the
asset build belong to the one full run, `python -m pytest`), nor a browser (tests marked `browser`),
nor the `docs` extra (tests/docs/test_site.py), in a fresh virtualenv of that Python, against the
same real PostgreSQL, Redis and moto servers. Interpreters are found on PATH or in pyenv's versions
(tests/support/interpreters.py); a session whose interpreter is missing is skipped, but under
CI=true a missing required one (3.11 to 3.13) fails the `interpreters` session.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from tests.support.interpreters import REQUIRED_PYTHONS, SUPPORTED_PYTHONS, find_python  # noqa: E402
from tests.support.services import in_ci  # noqa: E402

nox.options.sessions = ["interpreters", "tests"]
nox.options.error_on_missing_interpreters = False  # 3.14 may be absent; `interpreters` judges


def _expose_interpreters() -> None:
    """Put each found interpreter on PATH under its versioned name only (`python3.12`), so nox
    finds pyenv's interpreters without a pyenv shim deciding, and nothing else on PATH changes."""
    links = ROOT / ".nox" / "interpreters"
    links.mkdir(parents=True, exist_ok=True)
    for version in SUPPORTED_PYTHONS:
        python, link = find_python(version), links / f"python{version}"
        if link.is_symlink():
            link.unlink()
        if python is not None:
            link.symlink_to(python)
    os.environ["PATH"] = f"{links}{os.pathsep}{os.environ['PATH']}"


_expose_interpreters()


@nox.session(python=False)
def interpreters(session: nox.Session) -> None:
    """Which Pythons this machine has; under CI=true, a missing required one is a failure."""
    missing = []
    for version in SUPPORTED_PYTHONS:
        python = find_python(version)
        session.log(f"Python {version}: {python or 'not found'}")
        if python is None and version in REQUIRED_PYTHONS:
            missing.append(version)
    if missing and in_ci():
        session.error(f"CI=true: no interpreter for Python {', '.join(missing)}; install it (pyenv install)")


@nox.session(python=list(SUPPORTED_PYTHONS))
def tests(session: nox.Session) -> None:
    """Every test but the CDK's, the browser's and the docs site's, on this session's Python."""
    session.install("-e", ".[test-runtime]")
    session.run(
        "python",
        "-m",
        "pytest",
        "--ignore=tests/infra",
        "-m",
        "not browser",
        "--ignore=tests/docs/test_site.py",  # built once, by the full run (the `docs` extra)
        "-n",
        "auto",
        *session.posargs,
        env={"CI": os.environ.get("CI", "")},
    )


def cdk_floor_pins() -> list[str]:
    """The `cdk` extra's floors as exact pins: "aws-cdk-lib>=2.257.0" becomes "aws-cdk-lib==2.257.0"."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return [requirement.replace(">=", "==") for requirement in extras["cdk"]]


@nox.session(python=REQUIRED_PYTHONS[0])
def cdk_floors(session: nox.Session) -> None:
    """The construct's tests (tests/infra) on exactly the `cdk` extra's floors, on the oldest Python.

    Run it with `nox -s cdk_floors` when a floor moves; it is not in the default sessions.
    """
    session.install("-e", ".[test-runtime,cdk]", "cfn-lint>=1", *cdk_floor_pins())
    session.run(
        "python", "-m", "pytest", "tests/infra", *session.posargs, env={"CI": os.environ.get("CI", "")}
    )
