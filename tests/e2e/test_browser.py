"""The chat example works in a real browser behind `asgiway dev`, as a person would use it.

Chromium, driven by Playwright, opens the chat page as two visitors of #lobby and one of #garden.
This proves the whole path a person sees: the join form, the page served through the HTTP API
finding the WebSocket API through WEBSOCKET_URL, the welcome sent during CONNECT, messages sent as
AWS's sample chat sends them (`{"action": "sendmessage", "data": ...}`) broadcast through
@connections to every page of their room (once, in order, to no other room), the member list
following joins and departures, a visitor leaving and coming back, and a connection dropped by
API Gateway (an @connections DELETE) that the page notices and reconnects.

The screenshot of the conversation is docs/images/chat.png: run with ASGIWAY_UPDATE_SCREENSHOTS=1
to write it again (left alone otherwise, so that a test run changes no committed file).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.dev_server import REPOSITORY, DevServer

#: Chromium and Playwright: the full run only (nox's sessions on other Pythons leave it out).
pytestmark = pytest.mark.browser

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

TIMEOUT_MS = 10_000
#: A dropped page waits 1 s before its first retry, then needs a handshake and its welcome.
RECONNECT_TIMEOUT_MS = 30_000
# `\b` keeps DISCONNECT lines out.
ACCEPTED_CONNECT = re.compile(r"\bCONNECT\s+(?P<connection_id>\S+)\s+\$connect\s+200\b")
SCREENSHOT = REPOSITORY / "docs" / "images" / "chat.png"


@pytest.fixture
def chat_server() -> Iterator[DevServer]:
    # The route infra/app.py declares with routes=["sendmessage"].
    with DevServer("examples.chat.app:app", "--route", "sendmessage") as server:
        yield server
    # Shown by pytest only when the test fails: the emulator's side of the story.
    print("\n".join(server.lines))


def new_page(browser: Browser, errors: list[str], name: str) -> Page:
    """A page in a browser context of its own, like a separate browser; its script and console
    errors (a 404 for the favicon included) are added to `errors`."""
    page = browser.new_context(viewport={"width": 900, "height": 620}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda error: errors.append(f"{name}: {error}"))
    page.on("console", lambda message: record_console_error(errors, name, message))
    return page


def record_console_error(errors: list[str], name: str, message: ConsoleMessage) -> None:
    if message.type == "error":
        errors.append(f"{name}: {message.text} ({message.location.get('url', '')})")


def open_chat(browser: Browser, server: DevServer, errors: list[str], *, room: str, name: str) -> Page:
    """The chat page for a visitor who followed a link naming the room and their name."""
    page = new_page(browser, errors, name)
    page.goto(f"{server.origin}/?room={room}&name={name}")
    return page


def join(page: Page, name: str, room: str) -> None:
    page.locator("#joinName").fill(name)
    page.locator("#joinRoom").fill(room)
    page.get_by_role("button", name="Join").click()


def send(page: Page, text: str) -> None:
    page.locator("#messageText").fill(text)
    page.get_by_role("button", name="Send").click()


def expect_lines(page: Page, *texts: str, timeout: int = TIMEOUT_MS) -> None:
    """The conversation shows exactly these lines, in this order (timestamps aside): a duplicate or a
    stray one fails. A message reads "name: text"; a line of the page's own reads as it is."""
    from playwright.sync_api import expect

    expect(page.locator("#messages li")).to_have_count(len(texts), timeout=timeout)
    shown = page.locator("#messages li").evaluate_all(
        """lines => lines.map(line => {
            const name = line.querySelector(".name");
            const text = line.querySelector(".text").textContent;
            return name ? name.textContent + ": " + text : text;
        })"""
    )
    assert shown == list(texts)


def expect_members(page: Page, *names: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#members li")).to_have_text(list(names))


def expect_status(page: Page, text: str, timeout: int = TIMEOUT_MS) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#status")).to_have_text(text, timeout=timeout)


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


def test_two_visitors_talk_one_leaves_and_comes_back_and_a_dropped_page_reconnects(
    chat_server: DevServer, browser: Browser, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    # The server is set up first so that it stops last: the pages close, and their DISCONNECTs
    # run, while it still serves them.
    errors: list[str] = []
    ada = new_page(browser, errors, "ada")
    ada.goto(chat_server.origin)
    join(ada, "ada", "lobby")
    expect(ada.locator("#room")).to_have_text("#lobby")
    expect_status(ada, "Connected")
    ada_lines = ["You joined #lobby as ada"]
    expect_lines(ada, *ada_lines)
    expect_members(ada, "ada")
    (ada_connection_id,) = accepted_connections(chat_server, 1)

    cy = open_chat(browser, chat_server, errors, room="garden", name="cy")
    expect_lines(cy, "You joined #garden as cy")
    bob = open_chat(browser, chat_server, errors, room="lobby", name="bob")
    bob_lines = ["You joined #lobby as bob"]
    expect_lines(bob, *bob_lines)
    expect_members(bob, "ada", "bob")
    ada_lines.append("bob joined")
    expect_lines(ada, *ada_lines)
    expect_members(ada, "ada", "bob")

    # Bob answers what he has read, as a person would: two senders' messages travel in separate
    # MESSAGE events, so without that their order at a page is not fixed (on AWS neither).
    send(ada, "hello from ada")
    ada_lines.append("ada: hello from ada")
    bob_lines.append("ada: hello from ada")
    expect_lines(ada, *ada_lines)
    expect_lines(bob, *bob_lines)
    send(bob, "hi ada, bob here")
    ada_lines.append("bob: hi ada, bob here")
    bob_lines.append("bob: hi ada, bob here")
    expect_lines(ada, *ada_lines)
    expect_lines(bob, *bob_lines)
    # Each page sets its own messages apart, and shows when every line arrived.
    expect(ada.locator("#messages li.mine .text")).to_have_text(["hello from ada"])
    expect(bob.locator("#messages li.mine .text")).to_have_text(["hi ada, bob here"])
    expect(ada.locator("#messages li time").first).to_have_text(re.compile(r"^\d{1,2}:\d{2}"))

    # An empty message is refused by the page: nothing is sent, the reason is shown.
    send(bob, "   ")
    expect(bob.locator("#hint")).to_have_text("Type a message first.")
    markup = '<b>bold</b> & <img src=x onerror="window.pwned=1">'
    send(bob, markup)
    ada_lines.append(f"bob: {markup}")
    bob_lines.append(f"bob: {markup}")
    expect_lines(ada, *ada_lines)
    expect_lines(bob, *bob_lines)
    assert ada.locator("#messages b, #messages img").count() == 0, "markup is shown as text"
    assert ada.evaluate("window.pwned") is None

    # Bob leaves through the page, and comes back through the join form it leads to.
    bob.get_by_role("button", name="Leave").click()
    ada_lines.append("bob left")
    expect_lines(ada, *ada_lines)
    expect_members(ada, "ada")
    expect(bob.locator("#joinName")).to_have_value("bob")
    join(bob, "bob", "lobby")
    expect_members(bob, "ada", "bob")
    ada_lines.append("bob joined")
    expect_lines(ada, *ada_lines)
    expect_members(ada, "ada", "bob")

    # API Gateway drops ada's connection: the page says so, waits, reconnects and says that too.
    chat_server.client("apigatewaymanagementapi").delete_connection(ConnectionId=ada_connection_id)
    ada_lines += ["Connection lost; reconnecting in 1 s", "Reconnected to #lobby as ada"]
    expect_lines(ada, *ada_lines, timeout=RECONNECT_TIMEOUT_MS)
    expect_status(ada, "Connected")
    expect_members(ada, "ada", "bob")
    expect_lines(bob, "You joined #lobby as bob", "ada left", "ada joined", timeout=RECONNECT_TIMEOUT_MS)
    send(ada, "back again")
    ada_lines.append("ada: back again")
    expect_lines(ada, *ada_lines)
    expect(ada.locator("#messages li.mine .text")).to_have_text(["hello from ada", "back again"])

    # Nothing reached the other room, and no request failed (the favicon included).
    expect_lines(cy, "You joined #garden as cy")
    assert errors == []
    assert not [line for line in chat_server.lines if re.search(r"\s404\s", line)]

    picture = tmp_path / "chat.png"
    ada.screenshot(path=str(picture))
    assert picture.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("ASGIWAY_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(picture, SCREENSHOT)
