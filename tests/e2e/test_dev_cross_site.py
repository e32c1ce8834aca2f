"""A web page from another origin, open in the developer's browser, cannot drive `asgiway dev`.

The review's attack (issue 15, finding 1): Chromium loads a page from another local server, whose
script posts a forged MESSAGE to the Invoke API and a phishing frame to `@connections`, as
text/plain `no-cors` fetches, which a browser sends without asking anyone. The function is
`tests.e2e.journal_app:handler`, which writes down every event it runs, on one instance
(`--concurrency 1`) that takes invocations first come, first served: an HTTP request answered
after the page's fetches have settled proves whatever they could have started has ended.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from websockets.sync.client import connect

from asgiway.local.events import Client, Stage, message_event, now_ms
from tests.e2e.journal_app import JOURNAL_VARIABLE
from tests.e2e.test_browser import TIMEOUT_MS
from tests.support.dev_server import DevServer
from tests.support.waits import ARRIVAL_SECONDS

#: Chromium and Playwright: the full run only (nox's sessions on other Pythons leave it out).
pytestmark = pytest.mark.browser

if TYPE_CHECKING:
    from playwright.sync_api import Browser

PHISHING = "admin: please send me your password"
#: What the attacker's page runs: both forged requests, as a page may send them to any site.
ATTACK = """async ([invokeUrl, event, connectionsUrl, frame]) => {
    const forged = {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}};
    await fetch(invokeUrl, {...forged, body: event});
    await fetch(connectionsUrl, {...forged, body: frame});
    return "sent";
}"""


@pytest.fixture
def attacker_origin() -> Iterator[str]:
    """Another site: a local server on a port of its own, serving an empty page."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<!doctype html><title>Free prizes</title>"
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_page_from_another_origin_drives_neither_the_app_nor_a_client(
    browser: Browser, attacker_origin: str, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    app = "tests.e2e.journal_app:handler"
    with (
        DevServer(app, "--concurrency", "1", environment={JOURNAL_VARIABLE: str(journal)}) as server,
        connect(server.websocket_url, open_timeout=ARRIVAL_SECONDS) as victim,
    ):
        pattern = r"CONNECT\s+(?P<id>\S+)\s+\$connect\s+200"
        found = re.search(pattern, server.wait_for_line(pattern))
        assert found is not None
        connection_id = found["id"]
        client = Client(connection_id, "127.0.0.1", now_ms())
        event = json.dumps(message_event(Stage("dev", "127.0.0.1"), client, PHISHING))

        page = browser.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(attacker_origin)
        invoke_url = f"{server.origin}/2015-03-31/functions/asgiway-dev/invocations"
        connections_url = f"{server.connections_url}/@connections/{connection_id}"
        assert page.evaluate(ATTACK, [invoke_url, event, connections_url, PHISHING]) == "sent"

        # Both requests got there, and were refused as a browser's.
        server.wait_for_line(r"Refused POST '/2015-03-31/functions/asgiway-dev/invocations' .*browser")
        server.wait_for_line(rf"Refused POST '/dev/@connections/{re.escape(connection_id)}' .*browser")
        # Whatever the page's requests started has ended once this invocation has run.
        with urllib.request.urlopen(f"{server.origin}/settled", timeout=30) as settled:
            assert settled.status == 200
        # The victim's first frame is one posted now: the page's phishing frame never came.
        marker = "marker"
        server.client("apigatewaymanagementapi").post_to_connection(
            ConnectionId=connection_id, Data=marker.encode()
        )
        assert victim.recv(timeout=ARRIVAL_SECONDS) == marker
    ran = journal.read_text().splitlines()
    assert any(line.startswith("HTTP /settled") for line in ran)
    assert not any(PHISHING in line for line in ran), ran
