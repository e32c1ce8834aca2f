"""The `cdk` extra's floors are versions the construct works on (issue 14, item 8).

`nox -s cdk_floors` installs exactly these floors and runs tests/infra; here: the floors are the
session's pins, what is installed is at or above them, and the floors agree with cdk-nag's own.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def cdk_floors() -> dict[str, Version]:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    floors = {}
    for text in extras["cdk"]:
        requirement = Requirement(text)
        (specifier,) = requirement.specifier
        assert specifier.operator == ">=", f"{text}: a floor, so the floors session can pin it"
        floors[requirement.name] = Version(specifier.version)
    return floors


def test_the_cdk_extra_has_a_floor_for_each_library_the_construct_imports() -> None:
    assert set(cdk_floors()) == {"aws-cdk-lib", "constructs", "cdk-nag"}
    # cdk-nag 3 is the first whose AwsSolutions pack is a Validations plugin (what the tests add).
    assert cdk_floors()["cdk-nag"] >= Version("3.0.0")


def test_what_is_installed_is_at_or_above_the_floors() -> None:
    for name, floor in cdk_floors().items():
        assert Version(importlib.metadata.version(name)) >= floor, name


def test_the_floors_satisfy_cdk_nags_own_requirements() -> None:
    floors = cdk_floors()
    for text in importlib.metadata.requires("cdk-nag") or []:
        requirement = Requirement(text)
        if requirement.name in floors:
            assert requirement.specifier.contains(floors[requirement.name]), text


def test_the_floors_session_installs_the_cdk_extras_floors() -> None:
    noxfile = (ROOT / "noxfile.py").read_text()
    assert "def cdk_floors(" in noxfile
    assert 'extras["cdk"]' in noxfile
    assert '.replace(">=", "==")' in noxfile
    guide = (ROOT / "docs" / "deploying.md").read_text()
    assert "nox -s cdk_floors" in guide
