"""Standard output for the tables alone: whatever else the run writes goes to a log file.

moto's and the loopback servers' access logs, the anchors' subprocesses and the frameworks' own
prints write to file descriptors 1 and 2, threads and child processes included, so a
`contextlib.redirect_stdout` would miss most of it: the descriptors themselves are pointed at
the log, and the tables are written to a copy of the original standard output.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import TextIO

#: Lines of the log shown on the original standard error when a table fails.
TAIL_LINES = 40


@contextlib.contextmanager
def tables_only() -> Iterator[TextIO]:
    """A stream onto the original standard output; while it is open, descriptors 1 and 2 (and so
    `print`, logging, threads and child processes) write to a log file named on standard error
    only if a table fails."""
    sys.stdout.flush()
    sys.stderr.flush()
    log = tempfile.NamedTemporaryFile("w+", prefix="bench-", suffix=".log", delete=False)  # noqa: SIM115 - kept after the run
    saved_out, saved_err = os.dup(1), os.dup(2)
    tables = os.fdopen(os.dup(saved_out), "w", buffering=1, encoding="utf-8")
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    # asgiway's INFO lines (lifespan unsupported, and the like) are not the tables' business either.
    logging.getLogger("asgiway").setLevel(logging.WARNING)
    failed = False
    try:
        yield tables
    except BaseException:
        failed = True
        raise
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        tables.close()
        log.close()
        if failed:
            with open(log.name, encoding="utf-8", errors="replace") as written:
                tail = written.readlines()[-TAIL_LINES:]
            print(f"A table failed; the run's other output is in {log.name}, ending:", file=sys.stderr)
            print("".join(tail), file=sys.stderr)
        else:
            os.unlink(log.name)
