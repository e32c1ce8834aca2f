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
from bench.table import Table, median_us, ratio, verdict


async def hi(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hi")


def make_app() -> Starlette:
    return Starlette(routes=[Route("/", hi)])


def run(calls: int = 2000) -> Table:
    logging.getLogger("mangum").setLevel(logging.WARNING)
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
    mangum_default = Mangum(make_app())
    mangum_off = Mangum(make_app(), lifespan="off")
    results = {
        "raw ASGI call (floor)": median_us(floor, calls),
        "asgiway, lifespan on": median_us(lambda: ours(event, context), calls),
        "Mangum 0.22.0, lifespan auto": median_us(lambda: mangum_default(event, context), calls),
        "Mangum 0.22.0, lifespan off": median_us(lambda: mangum_off(event, context), calls),
    }
    loop.close()
    ours.close()
    table = Table(
        "1. HTTP event overhead (median µs per event, " + f"{calls:,} calls each)",
        ["adapter", "median µs", "vs floor", "vs asgiway"],
    )
    asgiway = results["asgiway, lifespan on"]
    for name, value in results.items():
        table.add(name, value, ratio(value, results["raw ASGI call (floor)"]), ratio(value, asgiway))
    default_ratio = asgiway / results["Mangum 0.22.0, lifespan auto"]
    off_ratio = asgiway / results["Mangum 0.22.0, lifespan off"]
    table.notes = [
        f"Target asgiway ≤ 0.5x Mangum default: {default_ratio:.2f}x ({verdict(default_ratio, 0.5)}); "
        f"≤ 1.0x Mangum lifespan off: {off_ratio:.2f}x ({verdict(off_ratio, 1.0)})."
    ]
    return table
