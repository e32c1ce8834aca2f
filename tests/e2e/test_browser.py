"""The chat example works in a real browser behind `asgiway dev`.

Chromium, driven by Playwright, opens the chat page as two visitors of #lobby and one of #garden.
This proves the whole path a developer sees: the page served through the HTTP API finds the
WebSocket API through WEBSOCKET_URL, the handshake is accepted by the app's CONNECT, the welcome
sent during CONNECT reaches the page, a message typed in one page (sent as AWS's sample chat sends
it, `{"action": "sendmessage", "data": ...}`) reaches the app on the `sendmessage` route and is
broadcast through @connections to every page of its room (once, in order, and to no other room),
and a page that closes becomes a DISCONNECT its room hears about.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.support.dev_server import DevServer

#: Chromium and Playwright: the full run only (nox's sessions on other Pythons leave it out).
pytestmark = pytest.mark.browser

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

TIMEOUT_MS = 10_000
# `\b` keeps DISCONNECT lines out.
ACCEPTED_CONNECT = re.compile(r"\bCONNECT\s+(?P<connection_id>\S+)\s+\$connect\s+200\b")


@pytest.fixture
def chat_server() -> Iterator[DevServer]:
    # The route infra/app.py declares with routes=["sendmessage"].
    with DevServer("examples.chat.app:app", "--route", "sendmessage") as server:
        yield server
    # Shown by pytest only when the test fails: the emulator's side of the story.
    print("\n".join(server.lines))


def open_chat(browser: Browser, server: DevServer, errors: list[str], *, room: str, name: str) -> Page:
    """The chat page as a new visitor: a browser context of its own, like a separate browser.

    The page's script errors and console errors are added to `errors`.
    """
    page = browser.new_context().new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda error: errors.append(f"{name}: {error}"))
    page.on("console", lambda message: record_console_error(errors, name, message))
    page.goto(f"{server.origin}/?room={room}&name={name}")
    return page


def record_console_error(errors: list[str], name: str, message: ConsoleMessage) -> None:
    url = message.location.get("url", "")
    # Chromium asks every page for /favicon.ico; the chat app has none, and that is fine.
    if message.type == "error" and not url.endswith("/favicon.ico"):
        errors.append(f"{name}: {message.text} ({url})")


def send(page: Page, text: str) -> None:
    page.locator("#messageText").fill(text)
    page.get_by_role("button", name="Send").click()


def expect_messages(page: Page, *texts: str) -> None:
    """The page shows exactly these frames, in this order: a duplicate or a stray one fails."""
    from playwright.sync_api import expect

    expect(page.locator("#messages li")).to_have_text(list(texts), timeout=TIMEOUT_MS)


def accepted_connections(server: DevServer, count: int, timeout: float = 10.0) -> list[str]:
    """The ids of the connections whose CONNECT the log shows answered 200, in log order.

    Waits until there are `count` of them, or `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        found = [
            match["connection_id"] for line in list(server.lines) if (match := ACCEPTED_CONNECT.search(line))
        ]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_a_message_typed_in_one_page_appears_in_every_page_of_its_room(
    chat_server: DevServer, browser: Browser
) -> None:
    # The server is set up first so that it stops last: the pages close, and their DISCONNECTs
    # run, while it still serves them.
    page_errors: list[str] = []
    ada = open_chat(browser, chat_server, page_errors, room="lobby", name="ada")
    expect_messages(ada, "Welcome to #lobby, ada!")
    cy = open_chat(browser, chat_server, page_errors, room="garden", name="cy")
    expect_messages(cy, "Welcome to #garden, cy!")
    bob = open_chat(browser, chat_server, page_errors, room="lobby", name="bob")
    expect_messages(bob, "Welcome to #lobby, bob!")
    expect_messages(ada, "Welcome to #lobby, ada!", "bob joined")
    connection_ids = accepted_connections(chat_server, 3)
    assert len(connection_ids) == 3, connection_ids
    assert len(set(connection_ids)) == 3, connection_ids

    send(ada, "hello from ada")
    expect_messages(ada, "Welcome to #lobby, ada!", "bob joined", "ada: hello from ada")
    expect_messages(bob, "Welcome to #lobby, bob!", "ada: hello from ada")
    ada_connection_id = connection_ids[0]
    chat_server.wait_for_line(rf"\bMESSAGE\s+{re.escape(ada_connection_id)}\s+sendmessage\s+200\b")

    send(bob, "hi ada, bob here")
    ada_so_far = ["Welcome to #lobby, ada!", "bob joined", "ada: hello from ada", "bob: hi ada, bob here"]
    expect_messages(ada, *ada_so_far)
    expect_messages(bob, "Welcome to #lobby, bob!", "ada: hello from ada", "bob: hi ada, bob here")
    # Both broadcasts have reached #lobby by now, so anything misrouted would have reached cy too.
    expect_messages(cy, "Welcome to #garden, cy!")

    bob.context.close()
    bob_connection_id = connection_ids[2]
    chat_server.wait_for_line(rf"\bDISCONNECT\s+{re.escape(bob_connection_id)}\s+\$disconnect\s+200\b")
    expect_messages(ada, *ada_so_far, "bob left")
    expect_messages(cy, "Welcome to #garden, cy!")
    assert page_errors == []
