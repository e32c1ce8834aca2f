"""Table 1: what each adapter adds to one HTTP API v2 GET, against the app called directly."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mangum import Mangum
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from asgiway import Adapter
from asgiway.sources.api_gateway_v2 import APIGatewayV2
from asgiway.testing import LambdaContextStub, http_event
from asgiway.types import AdapterConfig
from bench.table import Table, interleaved_medians_us, ratio, verdict


async def hi(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hi")


def make_app() -> Starlette:
    return Starlette(routes=[Route("/", hi)])


def run(calls: int = 2000) -> Table:
    logging.getLogger("mangum").setLevel(logging.WARNING)
    table = Table(
        "1. HTTP event overhead (median µs per event, " + f"{calls:,} calls each)",
        ["adapter", "median µs", "vs floor", "vs asgiway"],
        anchor="Mangum 0.22.0 (default lifespan, and lifespan off) and the app called directly, same run",
    )
    event = http_event("GET", "/")
    context: Any = LambdaContextStub(timeout_seconds=900)
    app = make_app()
    scope = APIGatewayV2(event, context, AdapterConfig()).scope
    loop = asyncio.new_event_loop()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    def floor() -> None:
        loop.run_until_complete(app(dict(scope), receive, send))

    ours = Adapter(make_app(), lifespan="on")
    ours_off = Adapter(make_app(), lifespan="off")
    mangum_default = Mangum(make_app())
    mangum_off = Mangum(make_app(), lifespan="off")
    results = interleaved_medians_us(
        {
            "raw ASGI call (floor)": floor,
            "asgiway, lifespan on": lambda: ours(event, context),
            "asgiway, lifespan off": lambda: ours_off(event, context),
            "Mangum 0.22.0, lifespan auto": lambda: mangum_default(event, context),
            "Mangum 0.22.0, lifespan off": lambda: mangum_off(event, context),
        },
        calls,
    )
    loop.close()
    ours.close()
    ours_off.close()
    asgiway = results["asgiway, lifespan on"]
    for name, value in results.items():
        table.add(name, value, ratio(value, results["raw ASGI call (floor)"]), ratio(value, asgiway))
    default_ratio = asgiway / results["Mangum 0.22.0, lifespan auto"]
    off_ratio = results["asgiway, lifespan off"] / results["Mangum 0.22.0, lifespan off"]
    on_ratio = asgiway / results["Mangum 0.22.0, lifespan off"]
    table.notes = [
        f"Target asgiway ≤ 0.5x Mangum default: {default_ratio:.2f}x ({verdict(default_ratio, 0.5)}); "
        f"≤ 1.0x Mangum lifespan off, both with lifespan off: {off_ratio:.2f}x ({verdict(off_ratio, 1.0)}) "
        f"(asgiway with its lifespan on: {on_ratio:.2f}x). The five calls take turns, in 20 rounds."
    ]
    return table
