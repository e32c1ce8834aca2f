"""Keep connection data and credentials out of botocore's DEBUG records of asgiway's own AWS calls.

At DEBUG, botocore logs each request's parameters and body ("Making request for ... with params"),
the signed request ("Sending http request", whose headers carry the signature and, on Lambda, the
role's session token), the signing steps (`botocore.auth`), and each response body ("Response
body"). For asgiway's calls those hold what must never reach a log: the stored scope with the
client's Authorization and Cookie headers and the per-connection state (DynamoDB PutItem and
GetItem), the frames (@connections PostToConnection, and Lambda Invoke for frames sent at CONNECT),
and the dsn's password (Secrets Manager GetSecretValue).

`protect(client)` marks the calls of one boto3 client: while one runs, on its thread (botocore
calls are synchronous and do not nest), those records keep the operation, the method, the URL and
the body's size, and lose the bodies, the header values and the signature. Records of any other
client (the app's own) stay as botocore writes them, and asgiway's calls keep all their other
records (retries, connections, status lines from urllib3, which logs no header or body).

A logger calls its filters only for records it is about to emit, so with DEBUG off the filter
never runs; what remains is setting a thread-local flag before and after each call.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from botocore.client import BaseClient

Client = TypeVar("Client", bound="BaseClient")

_ASIDE = "not logged: asgiway's AWS calls carry connection data"


def _request(record: logging.LogRecord) -> None:
    # botocore.endpoint: "Making request for %s with params: %s" % (operation_model, request_dict)
    args = record.args if isinstance(record.args, tuple) else ()
    params = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
    record.msg = f"Making request for %s: %s %s (params {_ASIDE})"
    record.args = (args[0] if args else None, params.get("method"), params.get("url"))


def _sending(record: logging.LogRecord) -> None:
    # botocore.endpoint: "Sending http request: %s" % AWSPreparedRequest (its signed headers)
    request = record.args[0] if isinstance(record.args, tuple) else None
    record.msg = f"Sending http request: %s %s (headers {_ASIDE})"
    record.args = (getattr(request, "method", None), getattr(request, "url", None))


def _body(record: logging.LogRecord) -> None:
    # botocore.parsers: "Response body:\n%r" % body
    body = record.args[0] if isinstance(record.args, tuple) else None
    size = f"{len(body)} bytes" if isinstance(body, bytes | str) else "a stream"
    record.msg = f"Response body: %s ({_ASIDE})"
    record.args = (size,)


def _signing(record: logging.LogRecord) -> None:
    # botocore.auth: the canonical request (signed header values: the session token) and signature.
    record.msg = f"{str(record.msg).partition(':')[0]}: ({_ASIDE})"
    record.args = ()


#: What to do to each record that echoes data, by the logger and the format string botocore uses
#: (as of botocore 1.44). Should botocore reword one, tests/reliability/test_secrets.py finds the leak.
_REDACTIONS: dict[str, dict[str, Callable[[logging.LogRecord], None]]] = {
    "botocore.endpoint": {
        "Making request for %s with params: %s": _request,
        "Sending http request: %s": _sending,
    },
    "botocore.parsers": {"Response body:\n%r": _body},
    "botocore.auth": {"CanonicalRequest:\n%s": _signing, "Signature:\n%s": _signing},
}

_calls = threading.local()
_install_lock = threading.Lock()
_installed = False


class _Redact(logging.Filter):
    """Rewrites, in place, the records of `_REDACTIONS` logged during a protected call."""

    def __init__(self, redactions: dict[str, Callable[[logging.LogRecord], None]]) -> None:
        super().__init__()
        self.redactions = redactions

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(_calls, "active", False) and isinstance(record.msg, str):
            redact = self.redactions.get(record.msg)
            if redact is not None:
                redact(record)
        return True


def _enter(**_: Any) -> None:
    _calls.active = True


def _leave(**_: Any) -> None:
    _calls.active = False


def _install_filters() -> None:
    global _installed  # noqa: PLW0603 - the filters go on botocore's loggers once per process
    with _install_lock:
        if not _installed:
            for name, redactions in _REDACTIONS.items():
                logging.getLogger(name).addFilter(_Redact(redactions))
            _installed = True


@contextmanager
def protected_call() -> Iterator[None]:
    """Mark what runs inside, on this thread, as a protected client's call: for requests signed
    with botocore's `SigV4Auth` and sent without a boto3 client (`asgiway.signed_posts`)."""
    if not _installed:
        _install_filters()
    _calls.active = True
    try:
        yield
    finally:
        _calls.active = False


def protect(client: Client) -> Client:
    """Mark `client`'s calls so that botocore logs neither their bodies nor their headers; returns it."""
    _install_filters()
    events = client.meta.events
    # 'after-call' follows every answer, errors included; 'after-call-error' a request that failed.
    events.register("before-call", _enter, unique_id="asgiway.log_redaction.enter")
    events.register("after-call", _leave, unique_id="asgiway.log_redaction.leave")
    events.register("after-call-error", _leave, unique_id="asgiway.log_redaction.leave-error")
    return client
