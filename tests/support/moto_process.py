"""moto's server in a process of its own, driven by `MotoServer` (tests/support/services.py).

`python -m tests.support.moto_process PORT` serves nothing until told; then each line on stdin is
a command, `start` or `stop` listening on 127.0.0.1:PORT, answered by a line `done` on stdout.
moto keeps its data between a stop and a start. End of stdin ends the process.
"""

from __future__ import annotations

import logging
import sys

from moto.server import ThreadedMotoServer


def main(port: int) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request in the test output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    listening = False
    for line in sys.stdin:
        command = line.strip()
        if command == "start" and not listening:
            server.start()
            listening = True
        elif command == "stop" and listening:
            server.stop()
            listening = False
        print("done", flush=True)
    if listening:
        server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]))
