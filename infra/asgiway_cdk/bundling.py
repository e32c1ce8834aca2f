"""Build a Lambda asset without Docker: the runtime package, the user's code and its requirements.

Requirements are installed by pip for the function's platform (`--platform manylinux_<glibc>_<arch>
--only-binary=:all: --python-version <target>`), never for the machine running `cdk synth`, so a
Mac or an x86_64 laptop builds an arm64 function correctly. boto3 and botocore are left out: the
Lambda Python runtime provides them, and so are console scripts (pip writes them to `bin/` with a
shebang naming the builder's own interpreter; Lambda never runs them).

The asset hash covers the inputs and nothing else: the runtime package's and the code's files (by
their path inside the asset, never where they lie on disk; `requirements.txt` among them), the
architecture and the Python version. Two clones at different paths, on different machines, hash the
same and deploy nothing new; changing any input rebuilds the asset.

Lambda cannot write `__pycache__` (its code is read-only), so an asset without bytecode compiles
every module from source on every cold start. When `cdk synth` runs on the function's own Python
version, the asset is compiled here, with hash-based bytecode that no timestamp can invalidate (CDK
zips every file with the same date); on another version the bytecode would not load, so none is
shipped.

Two limits of pip remain, and since the hash leaves the machine out, both are the requirements'
to settle: pin them. Environment markers (`; sys_platform != "win32"`) are evaluated on this
machine, not Lambda's. An unpinned requirement resolves to whatever is newest when the asset is
rebuilt, and nothing rebuilds it when only an index changes. Whether bytecode is shipped depends on
the Python running `cdk synth` (above); it changes how fast a cold start is, never what runs, so it
does not change the hash either.
"""

from __future__ import annotations

import compileall
import hashlib
import importlib.util
import os
import py_compile
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, ILocalBundling

#: What the Lambda Python runtime already has; a copy in the asset would only add weight.
PROVIDED_BY_LAMBDA = ("boto3", "botocore", "s3transfer")
#: Parts of the runtime package that never run on Lambda: the local emulator, its CLI, test helpers.
NOT_FOR_LAMBDA = ("local", "testing", "cli.py")
#: Files never copied from the user's code.
IGNORED = ("__pycache__", "*.pyc", ".venv", ".git", "cdk.out", "node_modules", ".pytest_cache", ".mypy_cache")
#: Where Lambda unpacks the asset: tracebacks from the shipped bytecode name files there.
LAMBDA_TASK_ROOT = "/var/task"
#: Where pip's `--target` puts console scripts (each with a shebang naming the builder's Python).
SCRIPTS_DIR = "bin"
#: Bumped whenever this bundler's output changes for the same inputs.
BUNDLER_VERSION = "3"


def runtime_package_dir() -> Path:
    """Where the installed `asgiway` package lives (found without importing it)."""
    spec = importlib.util.find_spec("asgiway")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The asgiway package is not installed; `pip install asgiway` first")
    return Path(next(iter(spec.submodule_search_locations)))


def pip_platforms(architecture: str, python_version: str) -> list[str]:
    """The wheel platforms that run on the function: manylinux up to its runtime's glibc.

    Python 3.12 and later run on Amazon Linux 2023 (glibc 2.34), earlier ones on Amazon Linux 2
    (glibc 2.26); many packages now publish only manylinux_2_28 wheels, which only the former runs.
    """
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[architecture]
    glibc_versions = ("2_17", "2_28", "2_34") if _version(python_version) >= (3, 12) else ("2_17", "2_26")
    return [f"manylinux_{glibc}_{machine}" for glibc in glibc_versions] + [f"manylinux2014_{machine}"]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


@jsii.implements(ILocalBundling)
class LocalBundler:
    """Bundles with the machine's own Python and pip; CDK uses it instead of Docker."""

    def __init__(self, code: Path, *, architecture: str, python_version: str) -> None:
        self.code = code
        self.architecture = architecture
        self.python_version = python_version

    @property
    def requirements(self) -> Path:
        return self.code / "requirements.txt"

    def asset_hash(self) -> str:
        """A hash of the inputs the asset is built from, the same on every machine and path."""
        digest = hashlib.sha256()
        digest.update(f"{BUNDLER_VERSION}|{self.architecture}|{self.python_version}".encode())
        for root, base in ((runtime_package_dir(), "asgiway"), (self.code, "code")):
            for path in sorted(_files(root, ignore=NOT_FOR_LAMBDA if base == "asgiway" else ())):
                digest.update(f"{base}/{path.relative_to(root).as_posix()}".encode())
                digest.update(path.read_bytes())
        return digest.hexdigest()

    def try_bundle(self, output_dir: str, options: BundlingOptions) -> bool:
        """CDK's hook: bundle here and now, so Docker is never needed."""
        self.bundle(Path(output_dir))
        return True

    def bundle(self, output: Path) -> None:
        """Fill `output` with what the function needs."""
        if self.requirements.is_file():
            self._pip_install(output)
        shutil.copytree(
            self.code, output, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*IGNORED, "requirements.txt")
        )
        shutil.copytree(
            runtime_package_dir(),
            output / "asgiway",
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(*IGNORED, *NOT_FOR_LAMBDA),
        )
        if self.compiles_bytecode:
            compile_asset(output)

    @property
    def compiles_bytecode(self) -> bool:
        """Whether this machine's Python writes bytecode the function's Python can load."""
        return sys.version_info[:2] == _version(self.python_version)[:2]

    def _pip_install(self, output: Path) -> None:
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--requirement", str(self.requirements),
            "--target", str(output),
            *[argument for tag in pip_platforms(self.architecture, self.python_version)
              for argument in ("--platform", tag)],
            "--implementation", "cp",
            "--python-version", self.python_version,
            "--only-binary=:all:",
            "--no-compile",
        ]  # fmt: skip
        subprocess.run(command, check=True)  # noqa: S603 - our own interpreter, arguments we built
        for name in PROVIDED_BY_LAMBDA:
            for found in output.glob(f"{name}*"):
                shutil.rmtree(found) if found.is_dir() else found.unlink()
        _drop_console_scripts(output)


def compile_asset(output: Path) -> None:
    """Compile every module once here instead of on every cold start.

    A file of the user's that does not compile (a template, code for another Python) is left as
    source: importing it would fail the same way on Lambda, with or without bytecode. The runtime
    package must compile, or no event could be served: that stops the synth with the file's error.
    """
    runtime = output / "asgiway"
    hash_based = py_compile.PycInvalidationMode.UNCHECKED_HASH
    if not compileall.compile_dir(
        runtime, ddir=f"{LAMBDA_TASK_ROOT}/asgiway", quiet=1, invalidation_mode=hash_based
    ):
        raise RuntimeError(f"asgiway does not compile on Python {sys.version_info[0]}.{sys.version_info[1]}")
    compileall.compile_dir(
        output,
        ddir=LAMBDA_TASK_ROOT,
        rx=re.compile(re.escape(f"{runtime}{os.sep}")),  # done above
        quiet=2,
        invalidation_mode=hash_based,
    )


def _drop_console_scripts(output: Path) -> None:
    """Remove the console scripts pip installed, and their lines in each distribution's RECORD.

    Called before the user's code is copied in, so a `bin/` folder of the user's own stays.
    """
    scripts = output / SCRIPTS_DIR
    if not scripts.is_dir():
        return
    shutil.rmtree(scripts)
    for record in output.glob("*.dist-info/RECORD"):
        lines = record.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith(f"../../{SCRIPTS_DIR}/")]
        if kept != lines:
            record.write_text("".join(kept))


def _files(root: Path, ignore: tuple[str, ...]) -> Iterator[Path]:
    for path in root.rglob("*"):
        relative = path.relative_to(root).parts
        skipped = any(part in IGNORED or part in ignore or part.endswith(".pyc") for part in relative)
        if path.is_file() and not skipped:
            yield path
