"""What the end-to-end tests marked `browser` share: Debian's Chromium, driven by Playwright."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.services import require

if TYPE_CHECKING:
    from playwright.sync_api import Browser

#: Playwright's own Chromium download is not used (it cannot download here): CI installs Debian's
#: (see .ci/run).
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGUMENTS = ["--headless", "--no-sandbox", "--disable-gpu"]


@pytest.fixture(autouse=True)
def browser_available(request: pytest.FixtureRequest) -> None:
    """For a `browser` test, checked before any other fixture, so a missing browser costs no server."""
    if request.node.get_closest_marker("browser") is None:
        return
    require(importlib.util.find_spec("playwright") is not None, "The playwright package (the .[test] extra)")
    require(CHROMIUM.exists(), "Debian's chromium at /usr/bin/chromium")


@pytest.fixture
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGUMENTS)
        try:
            yield chromium
        finally:
            chromium.close()
