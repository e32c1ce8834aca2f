"""`python -m bench`: every table, in the order of issue 7, as Markdown on standard output."""

from __future__ import annotations

import argparse
import os

from bench import (
    bundle,
    cold_start,
    fanout,
    frameworks,
    http_overhead,
    lean_posts,
    store_latency,
    two_way,
    websocket_vs_mangum,
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--calls", type=int, default=2000, help="events per figure of table 1")
    arguments = parser.parse_args()
    # boto3 signs the loopback @connections calls; any key pair will do.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    for table in (
        http_overhead.run(arguments.calls),
        websocket_vs_mangum.run(),
        store_latency.run(),
        cold_start.run(),
        fanout.run(),
        two_way.run(),
        bundle.run(),
        lean_posts.run(),
        frameworks.run(),
    ):
        print(table.markdown(), end="\n\n", flush=True)


if __name__ == "__main__":
    main()
