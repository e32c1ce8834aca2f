"""Table 7: the chat example's Lambda asset, bundled as `cdk synth` bundles it (boto3 left out)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from asgiway_cdk.bundling import LocalBundler
from asgiway_cdk.construct import DEFAULT_RUNTIME
from bench.table import Table, verdict

CHAT = Path(__file__).resolve().parents[1] / "examples" / "chat"
TARGET_MB = 5.0


def run() -> Table:
    python_version = DEFAULT_RUNTIME.name.removeprefix("python")
    table = Table(
        f"7. Bundle: the chat example's asset, unzipped (arm64, Python {python_version}, the default)",
        ["part", "size", "target", "verdict"],
        anchor="the 5 MB target (no adapter to compare: Mangum ships no bundler)",
    )
    with tempfile.TemporaryDirectory() as folder:
        asset = Path(folder) / "asset"
        LocalBundler(CHAT, architecture="arm64", python_version=python_version).bundle(asset)
        sizes: dict[str, int] = {}
        for path in asset.rglob("*"):
            if path.is_file():
                top = path.relative_to(asset).parts[0]
                sizes[top] = sizes.get(top, 0) + path.stat().st_size
    total = sum(sizes.values()) / 1024 / 1024
    for name in ("asgiway", "starlette", "anyio"):
        table.add(name, f"{sizes.get(name, 0) / 1024:,.0f} KB", "", "")
    table.add("everything", f"{total:.2f} MB", f"< {TARGET_MB:g} MB", verdict(total, TARGET_MB))
    return table
