"""aws-cdk-lib's Node support banners stay out of the tests' output (tests/support/node_banners.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.node_banners import DEPRECATED, END_OF_LIFE, UNTESTED, banner_silencers


def fake_node(tmp_path: Path, version: str) -> str:
    node = tmp_path / "node"
    node.write_text(f"#!/bin/sh\necho {version}\n")
    node.chmod(0o755)
    return str(node)


def test_importing_aws_cdk_prints_no_banner() -> None:
    """conftest set the switches for the Node on this machine; a process importing aws_cdk (as
    `cdk synth` runs infra/app.py) inherits them."""
    finished = subprocess.run(
        [sys.executable, "-c", "import aws_cdk"], capture_output=True, text=True, timeout=120, check=True
    )
    assert "!!" not in finished.stderr, finished.stderr


def test_the_end_of_life_switch_names_the_running_major_and_keeps_the_users(tmp_path: Path) -> None:
    node = fake_node(tmp_path, "v20.20.2")
    assert banner_silencers({"JSII_NODE": node}) == {END_OF_LIFE: "20", DEPRECATED: "1", UNTESTED: "1"}
    assert banner_silencers({"JSII_NODE": node, END_OF_LIFE: "18, 20"})[END_OF_LIFE] == "18,20"
    assert banner_silencers({"JSII_NODE": node, DEPRECATED: "yes"})[DEPRECATED] == "yes"


def test_without_a_node_only_the_switches_that_take_any_value_are_set(tmp_path: Path) -> None:
    assert banner_silencers({"JSII_NODE": str(tmp_path / "missing")}) == {DEPRECATED: "1", UNTESTED: "1"}
    assert END_OF_LIFE not in banner_silencers({"JSII_NODE": fake_node(tmp_path, "not a version")})
