"""Handler instances under `asgiway dev` behave as Lambda's: imported once, reused, one event at a time."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.e2e.apps import EVENTS_FOLDER_VARIABLE
from tests.e2e.test_dev_http import fetch
from tests.support.dev_server import DevServer, asgiway
from tests.support.waits import ARRIVAL_SECONDS


def state(server: DevServer, path: str = "/") -> dict[str, Any]:
    status, _, body = fetch(f"{server.origin}{path}")
    assert status == 200, body
    return dict(json.loads(body))


def test_a_warm_instance_keeps_its_module_state_and_the_context_is_lambdas() -> None:
    with DevServer("tests.e2e.apps:handler", "--timeout", "7") as server:
        first, second = state(server), state(server)
    assert second["pid"] == first["pid"]
    assert second["invocations"] == first["invocations"] + 1
    assert first["function_name"] == "asgiway-dev"
    assert 5000 < first["remaining_ms"] <= 7000


def test_a_slow_event_never_blocks_other_clients(tmp_path: Path) -> None:
    """The slow event is held until the quick ones have answered: shown by order, not by a clock."""
    events: dict[str, str | None] = {EVENTS_FOLDER_VARIABLE: str(tmp_path)}  # each event is written there
    gate = tmp_path / "release"
    with DevServer("tests.e2e.apps:handler", environment=events) as server, ThreadPoolExecutor(4) as pool:
        slow = pool.submit(state, server, f"/held?gate={gate}")
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("*-HTTP.json")) and time.monotonic() < deadline:
            time.sleep(0.01)  # polls another process's files: the slow event is running once one is there
        quick = [pool.submit(state, server) for _ in range(2)]
        quick_pids = {future.result(timeout=30)["pid"] for future in quick}
        held_while_they_answered = not slow.done()
        gate.touch()
        slow_pid = slow.result(timeout=30)["pid"]
    assert held_while_they_answered
    assert slow_pid not in quick_pids


def test_concurrency_caps_the_instances_and_the_rest_wait_their_turn() -> None:
    with DevServer("tests.e2e.apps:handler", "--concurrency", "2") as server, ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: state(server, "/slow?seconds=0.5"), range(6)))
    assert len({result["pid"] for result in results}) == 2


def test_a_handler_that_cannot_be_imported_stops_the_command_at_once() -> None:
    finished = asgiway("dev", "tests.e2e.missing:app", "--port", "0")
    assert finished.returncode == 2, "a module that is not there is a setting to fix"
    assert "cannot load tests.e2e.missing:app" in finished.stderr


def test_a_websocket_route_with_parameters_stops_the_command_with_the_routes_and_the_option() -> None:
    """No path can be guessed for /items/{item_id}/ws: serving "/" would refuse every handshake."""
    finished = asgiway("dev", "tests.e2e.routing_apps:items", "--port", "0")
    assert finished.returncode == 2
    assert "the app's WebSocket routes are /items/{item_id}/ws" in finished.stderr
    assert "--websocket-path /items/42/ws" in finished.stderr
    assert "Traceback" not in finished.stderr, "a setting to fix is one line"


def test_the_same_app_serves_once_the_path_is_given() -> None:
    with (
        DevServer("tests.e2e.routing_apps:items", "--websocket-path", "/items/42/ws") as server,
        connect(server.websocket_url) as client,
    ):
        assert client.recv(timeout=ARRIVAL_SECONDS) == "watching 42"


#: The variable `tests.e2e.import_failures` reads its plan from (named here: importing that module
#: would carry out a plan).
PLAN_VARIABLE = "ASGIWAY_TEST_IMPORT_PLAN"


def planned_imports(tmp_path: Path, *steps: str) -> dict[str, str | None]:
    """The environment for `tests.e2e.import_failures`: its imports follow `steps`, one per instance."""
    plan = tmp_path / "import-plan"
    plan.write_text("\n".join(steps))
    return {PLAN_VARIABLE: str(plan)}


def instance_pid(server: DevServer) -> str:
    status, _, body = fetch(f"{server.origin}/")
    assert status == 200, body
    return body


def crash_the_warm_instance(server: DevServer) -> None:
    """Ends the only instance, so that the next event needs a new one."""
    status, _, _ = fetch(f"{server.origin}/crash")
    assert status == 500
    server.wait_for_line(r"HTTP\s+GET /crash .*Runtime\.ExitError: The instance exited \(code 1\)")


def test_an_instance_that_exits_while_importing_fails_its_event_and_the_next_starts_afresh(
    tmp_path: Path,
) -> None:
    environment = planned_imports(tmp_path, "ok", "exit", "exit", "ok")
    with DevServer("tests.e2e.import_failures:handler", environment=environment) as server:
        warm = instance_pid(server)
        crash_the_warm_instance(server)

        # An HTTP API event: Lambda's failure is API Gateway's 500.
        assert fetch(f"{server.origin}/")[::2] == (500, '{"message":"Internal Server Error"}')
        exited = r"Runtime\.ExitError: the instance exited while importing the handler \(code 3\), cold start"
        server.wait_for_line(rf"HTTP\s+GET /\s+\$default\s+500 .*{exited}")
        # A WebSocket handshake whose CONNECT failed: 502.
        with pytest.raises(InvalidStatus) as refused:
            connect(server.websocket_url, open_timeout=30)
        assert refused.value.response.status_code == 502
        server.wait_for_line(rf"CONNECT\s+\S+\s+\$connect\s+502 .*{exited}")

        with connect(server.websocket_url, open_timeout=30):
            pass  # the next instance imported the handler: the handshake is accepted
        # Once its DISCONNECT is done, that instance is idle and serves the next event.
        server.wait_for_line(r"DISCONNECT\s+\S+\s+\$disconnect\s+200", timeout=30)
        assert instance_pid(server) != warm


def test_an_instance_that_cannot_import_in_time_is_killed_and_the_next_event_starts_afresh(
    tmp_path: Path,
) -> None:
    # The import that hangs has Lambda's 10 s init phase and the 1 s timeout, then the event fails.
    environment = planned_imports(tmp_path, "ok", "hang", "ok")
    with DevServer("tests.e2e.import_failures:handler", "--timeout", "1", environment=environment) as server:
        warm = instance_pid(server)
        crash_the_warm_instance(server)

        assert fetch(f"{server.origin}/")[::2] == (500, '{"message":"Internal Server Error"}')
        server.wait_for_line(
            r"HTTP\s+GET /\s+\$default\s+500 .*Sandbox\.Timedout: importing the handler took over 11 s"
            r" \(Lambda's 10 s init phase, then the function's 1 s timeout\), cold start"
        )
        assert instance_pid(server) != warm


def test_an_import_slower_than_the_timeout_is_within_lambdas_init_phase(tmp_path: Path) -> None:
    environment = planned_imports(tmp_path, "slow")
    with DevServer("tests.e2e.import_failures:handler", "--timeout", "1", environment=environment) as server:
        assert instance_pid(server).isdigit()


def test_a_bad_dsn_is_refused_before_serving_without_showing_its_password() -> None:
    dsn = "postgresql://user:s3cret@127.0.0.1:notaport/db"
    finished = asgiway("dev", "tests.e2e.apps:app", "--port", "0", "--dsn", dsn)
    assert finished.returncode == 2
    assert "port" in finished.stderr
    assert "s3cret" not in finished.stderr + finished.stdout


def test_invoke_runs_one_event_and_prints_the_response(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"version": "2.0", "rawPath": "/inferred", "requestContext": {}}))
    finished = asgiway("invoke", "tests.e2e.apps:handler", str(event))
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout) == {"inferred": True}


def test_invoke_wraps_an_asgi_app_and_reports_a_failure_as_lambda_does(tmp_path: Path) -> None:
    page = tmp_path / "page.json"
    page.write_text(
        json.dumps(
            {
                "version": "2.0",
                "routeKey": "$default",
                "rawPath": "/request",
                "rawQueryString": "",
                "headers": {"host": "example.com"},
                "requestContext": {"http": {"method": "GET", "path": "/request", "sourceIp": "10.0.0.1"}},
                "isBase64Encoded": False,
            }
        )
    )
    served = asgiway("invoke", "tests.e2e.apps:app", str(page))
    assert served.returncode == 0, served.stderr
    assert json.loads(served.stdout)["statusCode"] == 200
    failing = tmp_path / "raise.json"
    failing.write_text(json.dumps({"rawPath": "/raise", "requestContext": {}}))
    failed = asgiway("invoke", "tests.e2e.apps:handler", str(failing))
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["errorType"] == "RuntimeError"


def test_ctrl_c_stops_the_server_cleanly() -> None:
    server = DevServer("tests.e2e.apps:handler")
    with server:
        assert state(server)["invocations"] == 1
    assert server.stop() == 0
    assert not any("Traceback" in line for line in server.lines), server.lines


def test_the_emulator_never_imports_the_handler_itself() -> None:
    # The module reads DSN_URL at import: only an instance, with the function's environment, can.
    with DevServer("tests.e2e.needs_environment:handler", environment={"DSN_URL": None}) as server:
        status, _, body = fetch(f"{server.origin}/")
    assert (status, body) == (200, server.websocket_url)


def test_sigterm_stops_cleanly_and_removes_the_temporary_store() -> None:
    server = DevServer("tests.e2e.apps:handler")
    with server:
        store_line = server.wait_for_line(r"store\s+sqlite://")
        assert server.stop(signal.SIGTERM) == 0
    folder = Path(store_line.split("sqlite://", 1)[1]).parent
    assert folder.name.startswith("asgiway-dev-")
    assert not folder.exists()


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_stopping_with_clients_connected_disconnects_them_through_the_app(
    tmp_path: Path, how: signal.Signals
) -> None:
    """Every open connection's DISCONNECT reaches the app (1001 "Going away", as API Gateway going
    away would send), the store is left empty, each instance's lifespan shuts down, no traceback."""
    journal, store = tmp_path / "journal", tmp_path / "store.db"
    server = DevServer(
        "tests.e2e.shutdown_app:app",
        "--dsn",
        f"sqlite://{store}",
        environment={"ASGIWAY_TEST_JOURNAL": str(journal)},
    )
    with (
        server,
        connect(f"{server.websocket_url}?name=ada") as ada,
        connect(f"{server.websocket_url}?name=bob") as bob,
    ):
        assert ada.recv(timeout=ARRIVAL_SECONDS) == "hello ada"
        assert bob.recv(timeout=ARRIVAL_SECONDS) == "hello bob"
        assert server.stop(how) == 0
    lines = journal.read_text().splitlines()
    assert sorted(line for line in lines if line.startswith("left")) == [
        "left ada 1001 Going away",
        "left bob 1001 Going away",
    ]
    assert lines.count("startup") == lines.count("shutdown") >= 1
    assert lines[-1] == "shutdown"
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT count(*) FROM asgiway_connections").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM asgiway_rooms").fetchone() == (0,)
    assert not any("Traceback" in line or "KeyError" in line for line in server.lines), server.lines


def test_a_port_in_use_and_bad_settings_are_clear_errors() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        busy = asgiway("dev", "tests.e2e.apps:app", "--port", port)
    assert busy.returncode == 2
    assert f"Cannot listen on 127.0.0.1:{port}" in busy.stderr
    assert "Traceback" not in busy.stderr
    for setting in (["--concurrency", "0"], ["--timeout", "-1"], ["--idle-timeout", "0"]):
        refused = asgiway("dev", "tests.e2e.apps:app", "--port", "0", *setting)
        assert refused.returncode == 2
        assert setting[0] in refused.stderr


def test_invoke_explains_a_missing_event_file_and_a_result_that_is_not_json(tmp_path: Path) -> None:
    missing = asgiway("invoke", "tests.e2e.apps:handler", str(tmp_path / "nope.json"))
    assert missing.returncode == 2
    assert "Cannot read" in missing.stderr
    assert "Traceback" not in missing.stderr
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"rawPath": "/unserializable", "requestContext": {}}))
    unmarshalled = asgiway("invoke", "tests.e2e.apps:handler", str(event))
    assert unmarshalled.returncode == 1
    assert json.loads(unmarshalled.stdout)["errorType"] == "Runtime.MarshalError"


def test_placeholder_credentials_replace_a_profile_only_aws_setup(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[work]\naws_access_key_id = A\naws_secret_access_key = B\n")
    no_credentials: dict[str, str | None] = {
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
    }
    with (
        DevServer("tests.e2e.apps:app", environment=no_credentials) as server,
        connect(server.websocket_url, open_timeout=ARRIVAL_SECONDS) as client,
    ):
        assert str(client.recv(timeout=ARRIVAL_SECONDS)).startswith(
            "id "
        )  # sent during CONNECT: Lambda Invoke, then POST
        client.send("hi")
        assert client.recv(timeout=ARRIVAL_SECONDS) == "echo hi"
