"""The documentation site builds with `mkdocs build --strict`, in every run of the suite: this test
is CI's docs build (under CI=true a missing `docs` extra fails).

Strict: a broken link or anchor, a page missing from the nav, a snippet file that is not there or
a docstring mkdocstrings cannot render fails the build. mkdocs comes with the `docs` extra (the
`test` extra includes it): without it the test is skipped with the reason on a developer's machine,
and fails under CI=true.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.snippets import ROOT
from tests.support.services import in_ci

#: What the `docs` extra installs: mkdocs, its Material theme, mkdocstrings and its Python handler.
DOCS_MODULES = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers")


def require_docs_extra() -> None:
    missing = [name for name in DOCS_MODULES if importlib.util.find_spec(name) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed: pip install -e '.[docs]' to build the site"
    if in_ci():
        pytest.fail(f"CI=true: {message}")
    pytest.skip(message)


def test_the_site_builds_strictly_with_every_guide_and_the_api_reference(tmp_path: Path) -> None:
    require_docs_extra()
    site = tmp_path / "site"
    # Material's notice about its own end of life would be the only output of a good build.
    environment = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr

    def page(path: str) -> str:
        """The page's text, as a reader sees it: highlighted code is split into tags."""
        return html.unescape(re.sub(r"<[^>]+>", "", (site / path / "index.html").read_text()))

    # The snippets are in the pages, their section markers not.
    assert 'await Connections.of(websocket).broadcast(f"someone said: {text}")' in page("")
    porting = page("porting-a-connection-manager")
    assert "Client #{client_id} left the chat" in porting
    assert "[start:endpoint]" not in porting
    # The reference is generated from the docstrings, the construct's included.
    assert "Create the app. Every prop but" in page("reference/construct")
    assert "A Lambda handler for an ASGI app" in page("reference/asgiway")
    assert "Node.js 22 or 24." in page("deploying")
