"""A thread of its own for each session's sync code, when the app runs sync code through asgiref.

Django and Channels run sync code (a `WebsocketConsumer`'s handlers, `database_sync_to_async`)
through asgiref's `sync_to_async`, which by default uses one thread for the whole process. A
handler still busy in that thread when its event ran out of time would hold it into every later
event of the container, each then waiting behind it until its own deadline. So each session gets
a thread of its own, as Django gives each HTTP request (asgiref's ThreadSensitiveContext): a
handler stuck past its deadline holds only its own thread, which is let go.

This switches on by itself when the app has imported asgiref's sync module. It needs asgiref 3.13
or later (the first whose ThreadSensitiveContext takes its executor); with an older one, sessions
share asgiref's thread as before, and a WARNING says so once per container.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import sys
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

logger = logging.getLogger("asgiway")


@contextlib.asynccontextmanager
async def own_sync_thread() -> AsyncIterator[None]:
    """Within, asgiref's thread-sensitive sync code runs on a thread of this block's own."""
    context_class: Any = getattr(sys.modules.get("asgiref.sync"), "ThreadSensitiveContext", None)
    if context_class is None or not _takes_an_executor(context_class):
        yield
        return
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asgiway-session-sync")
    try:
        async with context_class(executor=executor):
            yield
    finally:
        # Never waited for: a handler still running past the event's end must not hold this one.
        executor.shutdown(wait=False)


@functools.cache
def _takes_an_executor(context_class: type) -> bool:
    takes = "executor" in inspect.signature(context_class).parameters
    if not takes:
        logger.warning(
            "asgiref is older than 3.13: every WebSocket event's sync code (Channels' sync "
            "consumers, database_sync_to_async) shares one thread, so a handler stuck past its "
            "event's deadline holds every later event of this container. Upgrade asgiref"
        )
    return takes
