"""Table 4: a cold start's import and adapter construction, asgiway against Mangum 0.22.

Both packages are copied side by side and measured twice, like for like: with bytecode (what
`pip install` leaves, and what an asset built on the function's Python version ships) and from
source (an asset without bytecode: Lambda cannot write `__pycache__`, so it compiles every time).
"""

from __future__ import annotations

import compileall
import importlib.util
import py_compile
import re
import shutil
import site
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.table import Table, ratio, verdict

RUNS = 15
RUNTIME = Path(__file__).resolve().parents[1] / "runtime" / "asgiway"
#: Built before the clock starts: both adapters wrap the same, already imported app.
APP = (
    "from starlette.applications import Starlette\n"
    "from starlette.responses import PlainTextResponse\n"
    "from starlette.routing import Route\n"
    "app = Starlette(routes=[Route('/', lambda request: PlainTextResponse('hi'))])\n"
)
ADAPTERS = {
    "asgiway": ("asgiway", "from asgiway import Adapter\nhandler = Adapter(app)\n"),
    "Mangum 0.22.0": ("mangum", "from mangum import Mangum\nhandler = Mangum(app)\n"),
}
HEAVY = ("boto3", "botocore", "psycopg2", "redis")


def _mangum_dir() -> Path:
    spec = importlib.util.find_spec("mangum")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("Mangum is not installed: pip install -e '.[bench]'")
    return Path(next(iter(spec.submodule_search_locations)))


def _packages(folder: Path, *, bytecode: bool) -> Path:
    """Both adapters' packages copied into `folder`, compiled as pip would, or left as source."""
    for source, name in ((RUNTIME, "asgiway"), (_mangum_dir(), "mangum")):
        shutil.copytree(source, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    if bytecode:
        compileall.compile_dir(
            folder, quiet=2, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )
    return folder


def _isolated(packages: Path, script: str, *options: str) -> subprocess.CompletedProcess[str]:
    """Run `script` as on Lambda: no site hooks (so no editable-install finder), never writing
    bytecode, the copied packages first on the path, then site-packages for starlette."""
    paths = [str(packages), *site.getsitepackages()]
    prelude = f"import sys; sys.path[:0] = {paths!r}\n"
    return subprocess.run(
        [sys.executable, "-S", "-B", *options, "-c", prelude + script],
        capture_output=True,
        text=True,
        check=True,
    )


def _measure(packages: Path, adapter: str) -> tuple[float, list[str]]:
    script = (
        f"{APP}import sys, time\nstarted = time.perf_counter()\n{adapter}"
        "print(time.perf_counter() - started)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    seconds, heavy = _isolated(packages, script).stdout.splitlines()
    return float(seconds), [name for name in heavy.split(",") if name]


def _importtime_ms(packages: Path, module: str) -> float:
    """`python -X importtime`'s cumulative figure for the module, its dependencies included."""
    finished = _isolated(packages, f"import starlette.applications, {module}", "-X", "importtime")
    for line in finished.stderr.splitlines():
        found = re.match(r"import time:\s*\d+\s*\|\s*(\d+)\s*\|\s*(\S+)$", line.strip())
        if found and found[2] == module:
            return int(found[1]) / 1000
    return 0.0


def run() -> Table:
    table = Table(
        f"4. Cold start: import + adapter construction (median of {RUNS} fresh interpreters)",
        [
            "adapter",
            "with bytecode",
            "-X importtime",
            "from source",
            "heavy modules loaded",
            "vs Mangum, with bytecode",
            "vs Mangum, from source",
        ],
        anchor="Mangum 0.22.0, copied and measured alike in the same run",
    )
    medians: dict[tuple[str, bool], float] = {}
    importtimes: dict[str, float] = {}
    heavy: dict[str, set[str]] = {name: set() for name in ADAPTERS}
    with tempfile.TemporaryDirectory() as compiled, tempfile.TemporaryDirectory() as plain:
        folders = {
            True: _packages(Path(compiled), bytecode=True),
            False: _packages(Path(plain), bytecode=False),
        }
        for bytecode, packages in folders.items():
            # The adapters take turns: a machine getting busier or quieter weighs on both alike.
            samples: dict[str, list[tuple[float, list[str]]]] = {name: [] for name in ADAPTERS}
            for _ in range(RUNS):
                for name, (_, adapter) in ADAPTERS.items():
                    samples[name].append(_measure(packages, adapter))
            for name, (module, _) in ADAPTERS.items():
                medians[name, bytecode] = statistics.median(seconds for seconds, _ in samples[name]) * 1000
                heavy[name].update(loaded for _, modules in samples[name] for loaded in modules)
                if bytecode:
                    importtimes[name] = _importtime_ms(packages, module)
    anchor = "Mangum 0.22.0"
    for name in ADAPTERS:
        table.add(
            name,
            f"{medians[name, True]:.1f} ms",
            f"{importtimes[name]:.1f} ms",
            f"{medians[name, False]:.1f} ms",
            ", ".join(sorted(heavy[name])) or "none",
            ratio(medians[name, True], medians[anchor, True]),
            ratio(medians[name, False], medians[anchor, False]),
        )
    compiled_ratio = medians["asgiway", True] / medians[anchor, True]
    source_ratio = medians["asgiway", False] / medians[anchor, False]
    table.notes = [
        "Target ≤ 1.0x Mangum, with no boto3, psycopg2 or redis before they are used: "
        f"{compiled_ratio:.2f}x with bytecode ({verdict(compiled_ratio, 1.0)}), "
        f"{source_ratio:.2f}x from source ({verdict(source_ratio, 1.0)})."
    ]
    return table
