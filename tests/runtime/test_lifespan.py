"""Lifespan once per container, with `auto`, `on` and `off`, and clear failures."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import pytest

from asgiway import Adapter, ConfigurationError, LifespanError
from asgiway.testing import http_event


def lifespan_app(log: list[str], *, fail: str | None = None) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                phase = message["type"].split(".")[1]
                log.append(phase)
                if phase == "startup":
                    scope["state"]["greeting"] = "hello"
                if fail == phase:
                    await send({"type": f"lifespan.{phase}.failed", "message": "no database"})
                    return
                await send({"type": f"lifespan.{phase}.complete"})
                if phase == "shutdown":
                    return
        await receive()
        body = scope["state"].get("greeting", "none").encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": body})

    return app


def test_startup_runs_once_per_container_and_state_reaches_requests() -> None:
    log: list[str] = []
    handler = Adapter(lifespan_app(log))
    bodies = [handler(http_event())["body"] for _ in range(3)]
    assert bodies == ["hello", "hello", "hello"]
    assert log == ["startup"]
    handler.close()
    assert log == ["startup", "shutdown"]


def test_lifespan_off_never_runs_it() -> None:
    log: list[str] = []
    handler = Adapter(lifespan_app(log), lifespan="off")
    assert handler(http_event())["body"] == "none"
    assert log == []


def test_a_failed_startup_is_a_clear_error_at_every_event() -> None:
    handler = Adapter(lifespan_app([], fail="startup"))
    for _ in range(2):
        with pytest.raises(LifespanError, match="startup failed"):
            handler(http_event())


async def no_lifespan(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise ValueError(f"unsupported scope {scope['type']}")
    await receive()
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def test_auto_carries_on_without_a_lifespan_but_on_requires_it() -> None:
    assert Adapter(no_lifespan)(http_event())["statusCode"] == 204
    with pytest.raises(LifespanError, match="did not complete"):
        Adapter(no_lifespan, lifespan="on")(http_event())


def test_invalid_options_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="lifespan must be"):
        Adapter(no_lifespan, lifespan="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="websocket_path must start with '/'"):
        Adapter(no_lifespan, websocket_path="ws")


def test_closing_after_a_failed_startup_leaves_no_task_behind(caplog: pytest.LogCaptureFixture) -> None:
    """The spec lets an app that reported `lifespan.startup.failed` wait on `receive()`: closing
    the container must cancel it, not close the loop under it ("Task was destroyed but it is
    pending", then "Event loop is closed" at garbage collection)."""
    cancelled: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})
            try:
                await receive()
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

    handler = Adapter(app, lifespan="on")
    with pytest.raises(LifespanError, match="no database"):
        handler(http_event())
    with caplog.at_level(logging.WARNING):
        handler.close()
        handler.close()  # a second close does nothing
        del handler
        gc.collect()
    assert cancelled == [True]
    assert caplog.records == []
