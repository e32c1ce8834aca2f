"""The `asgiway` command as a user meets it: a version, one-line errors, sample events, no surprise posts."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from asgiway.testing import ConnectionsApiDouble
from tests.support.chat_frames import readable
from tests.support.dev_server import asgiway

CHAT = "examples.chat.app:app"


def assert_one_line_error(finished: subprocess.CompletedProcess[str], *expected: str) -> None:
    """Exit 2, and standard error is one line, with no traceback, saying each of `expected`."""
    assert finished.returncode == 2, finished.stderr
    assert "Traceback" not in finished.stderr
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    for text in expected:
        assert text in lines[0]


def test_version() -> None:
    finished = asgiway("--version")
    assert finished.returncode == 0
    assert finished.stdout.startswith("asgiway ")


@pytest.mark.parametrize("command", ["dev", "invoke"])
@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("tests.e2e.nowhere:app", ["Cannot import module 'tests.e2e.nowhere'"]),
        ("examples/chat/app.py:app", ["is a file path", "'examples.chat.app:app'"]),
        ("myapp.py:app", ["is a file path", "'myapp:app'"]),
        ("examples.chat.app:SEND_MESSAGE", ["names a str, not an ASGI app"]),
        ("examples.chat.app:Starlette", ["names the class Starlette"]),
        ("examples.chat.app:nothing", ["has no attribute 'nothing'"]),
    ],
    ids=["missing-module", "file-path", "file-in-folder", "not-an-app", "a-class", "no-attribute"],
)
def test_a_target_that_names_no_app_is_one_line(command: str, target: str, expected: list[str]) -> None:
    extra = ["--port", "0"] if command == "dev" else ["--route", "sendmessage"]
    assert_one_line_error(asgiway(command, target, *extra), *expected)


@pytest.mark.parametrize("command", ["dev", "invoke"])
def test_a_dsn_no_backend_takes_is_one_line(command: str) -> None:
    extra = ["--port", "0"] if command == "dev" else ["--route", "sendmessage"]
    finished = asgiway(command, CHAT, "--dsn", "nosuch://somewhere", *extra)
    assert_one_line_error(finished, "no backend is installed for scheme 'nosuch'")


def test_a_port_out_of_range_is_one_line() -> None:
    assert_one_line_error(asgiway("dev", CHAT, "--port", "99999"), "--port", "0 to 65535", "99999")


def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        finished = asgiway("dev", CHAT, "--port", port)
    assert_one_line_error(finished, f"Cannot listen on 127.0.0.1:{port}")


def test_a_mistyped_option_is_one_line() -> None:
    assert_one_line_error(asgiway("invoke", "--event", "nope"), "invalid choice: 'nope'", "--help")


@pytest.mark.parametrize(
    ("kind", "event_type"),
    [("connect", "CONNECT"), ("message", "MESSAGE"), ("disconnect", "DISCONNECT")],
)
def test_invoke_prints_a_sample_websocket_event(kind: str, event_type: str) -> None:
    finished = asgiway("invoke", "--event", kind, "--connection-id", "abc=")
    assert finished.returncode == 0, finished.stderr
    context = json.loads(finished.stdout)["requestContext"]
    assert (context["eventType"], context["connectionId"]) == (event_type, "abc=")


def test_invoke_prints_a_sample_http_event_and_a_message_on_a_route() -> None:
    http = json.loads(asgiway("invoke", "--event", "http").stdout)
    assert (http["version"], http["requestContext"]["http"]["method"]) == ("2.0", "GET")
    message = json.loads(asgiway("invoke", "--event", "message", "--route", "sendmessage").stdout)
    assert message["requestContext"]["routeKey"] == "sendmessage"
    assert json.loads(message["body"]) == {"action": "sendmessage"}


def test_a_sample_event_takes_no_target() -> None:
    assert_one_line_error(asgiway("invoke", CHAT, "--event", "http"), "leave TARGET out")


def sample(tmp_path: Path, kind: str, *arguments: str) -> Path:
    path = tmp_path / f"{kind}.json"
    finished = asgiway("invoke", "--event", kind, "--connection-id", "abc=", *arguments)
    path.write_text(finished.stdout)
    return path


def test_invoke_posts_a_websocket_events_frames_to_a_loopback_double_and_prints_them(tmp_path: Path) -> None:
    """The sample names a real execute-api host: nothing may reach it, the frames are printed."""
    store = f"sqlite://{tmp_path / 'store.db'}"
    connected = asgiway("invoke", CHAT, str(sample(tmp_path, "connect")), "--dsn", store)
    assert connected.returncode == 0, connected.stderr
    assert json.loads(connected.stdout) == {"statusCode": 200}
    posted = [line.split(": ", 1) for line in connected.stderr.splitlines()]
    assert [(call, readable(frame)) for call, frame in posted] == [
        ("@connections POST abc=", "Welcome to #lobby, ada! (ada)")
    ]
    body = json.dumps({"action": "sendmessage", "data": "hi"})
    message = sample(tmp_path, "message", "--route", "sendmessage", "--body", body)
    sent = asgiway("invoke", CHAT, str(message), "--dsn", store)
    assert sent.returncode == 0, sent.stderr
    call, frame = sent.stderr.strip().split(": ", 1)
    assert (call, readable(frame)) == ("@connections POST abc=", "ada: hi")


def test_invoke_posts_to_an_endpoint_only_when_given_one(tmp_path: Path) -> None:
    with ConnectionsApiDouble() as endpoint:
        finished = asgiway(
            "invoke", CHAT, str(sample(tmp_path, "connect")), "--endpoint-url", endpoint.endpoint_url
        )
        assert finished.returncode == 0, finished.stderr
        assert [readable(frame) for frame in endpoint.sent("abc=")] == ["Welcome to #lobby, ada! (ada)"]
    assert "@connections" not in finished.stderr
