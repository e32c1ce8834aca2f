"""Django Channels' tutorial chat and Quart's echo in a real browser behind `asgiway dev`.

Chromium, driven by Playwright, opens the Channels tutorial's room page (a Django view, through
the HTTP API) as two visitors of #lobby: what one types appears in both pages, once and in order,
the other page's copy through an asynchronous invocation that replays its consumer. Then Quart's
chat tutorial page talks to Quart's documented echo: every line typed comes back once, in order.

The browser comes with the `test` extra (Playwright) and Debian's chromium; nox's sessions, which
install no browser, skip these tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support.dev_server import DevServer

#: Chromium and Playwright: the full run only (nox's sessions on other Pythons leave it out).
pytestmark = pytest.mark.browser

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

TIMEOUT_MS = 10_000


def new_page(browser: Browser, errors: list[str], name: str) -> Page:
    """A page in a browser context of its own (a separate visitor); its errors go to `errors`."""
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda error: errors.append(f"{name}: {error}"))
    page.on("console", lambda message: record_console_error(errors, name, message))
    return page


def record_console_error(errors: list[str], name: str, message: ConsoleMessage) -> None:
    url = message.location.get("url", "")
    # Chromium asks every page for /favicon.ico; neither app has one, and that is fine.
    if message.type == "error" and not url.endswith("/favicon.ico"):
        errors.append(f"{name}: {message.text} ({url})")


def test_channels_tutorial_chat_in_two_pages(browser: Browser) -> None:
    with DevServer("tests.apps.channels_chat:application", "--websocket-path", "/ws/chat/lobby/") as server:
        from playwright.sync_api import expect

        errors: list[str] = []
        pages = {name: new_page(browser, errors, name) for name in ("ada", "bob")}
        for page in pages.values():
            page.goto(f"{server.origin}/chat/lobby/")
            # Open means accepted: its CONNECT answered 200, so it joined the group first.
            page.wait_for_function("() => chatSocket.readyState === WebSocket.OPEN")

        def say(name: str, text: str) -> None:
            pages[name].locator("#chat-message-input").fill(text)
            pages[name].locator("#chat-message-submit").click()

        say("ada", "hello from ada")
        for page in pages.values():
            expect(page.locator("#chat-log")).to_have_value("hello from ada\n", timeout=TIMEOUT_MS)
        say("bob", "hi ada")
        for page in pages.values():
            expect(page.locator("#chat-log")).to_have_value("hello from ada\nhi ada\n", timeout=TIMEOUT_MS)
        assert errors == []
        for page in pages.values():
            page.context.close()


def test_quart_echo_with_its_tutorial_page(browser: Browser) -> None:
    """Quart's chat tutorial page, served by the app at "/" through the HTTP API, talks to the
    documented echo's WebSocket route."""
    with DevServer("tests.apps.quart_echo_with_page:app", "--websocket-path", "/ws") as server:
        from playwright.sync_api import expect

        errors: list[str] = []
        page = new_page(browser, errors, "ada")
        page.goto(f"{server.origin}/")
        page.wait_for_function("() => ws.readyState === WebSocket.OPEN")
        lines = ["one", "two", "three"]
        for number, line in enumerate(lines):
            page.locator("input[name=message]").fill(line)
            page.get_by_role("button", name="Send").click()
            expect(page.locator("#messages li")).to_have_text(lines[: number + 1], timeout=TIMEOUT_MS)
        assert errors == []
        page.context.close()
