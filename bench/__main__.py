"""`python -m bench`: every table, in the order of issue 7, as Markdown on standard output, and
nothing else there (see `bench.quiet`)."""

from __future__ import annotations

import argparse
import importlib
import os

from bench.quiet import tables_only

#: The tables' modules, in their order; each has `run() -> Table`.
TABLES = (
    "http_overhead",
    "websocket_vs_mangum",
    "store_latency",
    "cold_start",
    "fanout",
    "two_way",
    "bundle",
    "lean_posts",
    "frameworks",
    "memory",
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="events per figure of table 1")
    parser.add_argument("--only", nargs="*", choices=TABLES, help="these tables alone")
    arguments = parser.parse_args()
    # boto3 signs the loopback @connections calls; any key pair will do.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    with tables_only() as tables:
        # Imported here: some print at import (jsii's Node.js notice, Litestar's logging setup).
        for name in arguments.only or TABLES:
            module = importlib.import_module(f"bench.{name}")
            table = module.run(arguments.calls) if name == "http_overhead" else module.run()
            print(table.markdown(), end="\n\n", file=tables, flush=True)


if __name__ == "__main__":
    main()
