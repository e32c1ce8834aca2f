"""Broadcasts too large for one event: the event posts the first shard, other invocations the rest.

A post costs the calling event CPU (about 0.4 ms with `asgiway.signed_posts`), and a small Lambda
has a fraction of a vCPU: 10,000 posts do not fit in API Gateway's 29 s. So a broadcast keeps at most
`shard_size` targets for itself, fewer when the post rate this container measured says they would
not fit before the event's deadline, and hands the others, in shards, to asynchronous invocations
of the same function (Lambda's Invoke API, as CONNECT frames are handed over in `asgiway.deferred`).

Each payload carries the frame once and the shard's connection ids, and stays under Lambda's
256 KB limit for an asynchronous invocation; like every delivery payload it never names where to
post: the shard posts to the endpoint the function is configured with, else the one recorded at its
first connection's CONNECT. A shard applies the broadcast's rules: 410 marks the connection gone,
429 and 5xx are retried. Lambda runs an asynchronous invocation at least once, so a shard may run on
another container and, rarely, twice (a client then gets the frame twice).

Outside Lambda (tests, scripts, `Connections` built by hand) the shards run on a thread pool of
this process instead; under `asgiway dev`, whose instances look like Lambda, through its Invoke API.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from asgiway.sources.delivery import DELIVERY_EVENT_KEY

if TYPE_CHECKING:
    from asgiway.backends import Backend
    from asgiway.connections import BroadcastResult
    from asgiway.types import LambdaResponse

logger = logging.getLogger("asgiway")

#: Targets a broadcast posts from the calling event at most; the rest go to shards of this size.
DEFAULT_SHARD_SIZE = 1_000
#: Lambda's quota for an asynchronous invocation's payload was 256 KB
#: (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html); the Invoke API page now
#: gives 1 MB (https://docs.aws.amazon.com/lambda/latest/dg/API_Invoke.html). Shards keep to the
#: older, smaller figure, which every account and emulator accepts.
MAX_ASYNC_PAYLOAD_BYTES = 256 * 1024
#: Of the time left before the event's deadline, the share its own shard may plan to use: the
#: measured rate is a past figure, and the app still has to answer after its broadcast.
DEADLINE_SHARE = 0.5
#: The deadline estimate never leaves the event fewer targets than this: below it an invocation
#: costs more than the posts it would take over, and one slow broadcast must not shard the next.
MIN_OWN_SHARE = 100
#: The field of a delivery payload that makes it a broadcast shard.
SHARD_FIELD = "broadcast_shard"
#: API Gateway's connection ids are short base64-like strings; a payload's must look like one.
_MAX_CONNECTION_ID_LENGTH = 128
_CONNECTION_ID_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-")
#: Shards run one after another in this process when there is no Lambda to hand them to.
_LOCAL_SHARD_WORKERS = 2


class MalformedShardError(ValueError):
    """A broadcast shard payload that is not exactly the documented shape."""


class PostRate:
    """Posts per second of this container's latest broadcasts: how many fit before a deadline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._per_second: float | None = None

    def record(self, posts: int, seconds: float, failures: int) -> None:
        """Keep the rate of a broadcast whose every post was answered: stalls and exhausted retries
        measure the clients and the endpoint, not how fast this container posts."""
        if posts < MIN_OWN_SHARE or failures or seconds <= 0:
            return
        with self._lock:
            self._per_second = posts / seconds

    def posts_before(self, deadline: float | None) -> int | None:
        """How many posts fit in DEADLINE_SHARE of the time left; None when nothing is known."""
        with self._lock:
            rate = self._per_second
        if rate is None or deadline is None:
            return None
        return math.floor(rate * max(0.0, deadline - time.monotonic()) * DEADLINE_SHARE)


post_rate = PostRate()


def own_share(targets: list[str], shard_size: int, deadline: float | None) -> int:
    """How many of the targets the calling event posts itself: at most `shard_size`, fewer when
    the measured rate says they would not fit before `deadline`, but not under MIN_OWN_SHARE."""
    fitting = post_rate.posts_before(deadline)
    share = shard_size if fitting is None else min(shard_size, max(MIN_OWN_SHARE, fitting))
    return min(len(targets), max(1, share))


def encode_frame(frame: str | bytes) -> dict[str, str]:
    return {"text": frame} if isinstance(frame, str) else {"bytes": base64.b64encode(frame).decode()}


def shard_events(
    frame: str | bytes, targets: list[str], shard_size: int
) -> tuple[list[dict[str, Any]], list[str]]:
    """Invocation events of at most `shard_size` targets each, every one under Lambda's async
    limit, and the targets that fit in none (a frame too large to travel with even one id)."""
    encoded_frame = encode_frame(frame)
    frame_bytes = len(json.dumps(encoded_frame, ensure_ascii=False).encode())
    envelope_bytes = len(_event(encoded_frame, []).encode()) - frame_bytes
    budget = MAX_ASYNC_PAYLOAD_BYTES - envelope_bytes - frame_bytes
    events: list[dict[str, Any]] = []
    shard: list[str] = []
    used = 0
    for connection_id in targets:
        cost = len(connection_id.encode()) + 4  # its quotes, and the ", " before the next
        if cost > budget:
            return events, targets[targets.index(connection_id) :]
        if len(shard) == shard_size or used + cost > budget:
            events.append(json.loads(_event(encoded_frame, shard)))
            shard, used = [], 0
        shard.append(connection_id)
        used += cost
    if shard:
        events.append(json.loads(_event(encoded_frame, shard)))
    return events, []


def _event(encoded_frame: dict[str, str], connection_ids: list[str]) -> str:
    shard = {"frame": encoded_frame, "connection_ids": connection_ids}
    return json.dumps({DELIVERY_EVENT_KEY: {SHARD_FIELD: shard}}, ensure_ascii=False)


def is_shard(payload: Any) -> bool:
    return isinstance(payload, dict) and SHARD_FIELD in payload


def parse_shard(payload: Any) -> tuple[str | bytes, list[str]]:
    """(frame, connection ids) of a shard payload, checked field by field."""
    if not isinstance(payload, dict) or set(payload) != {SHARD_FIELD}:
        raise MalformedShardError(f"a shard payload holds only {SHARD_FIELD!r}")
    shard = payload[SHARD_FIELD]
    if not isinstance(shard, dict) or set(shard) != {"frame", "connection_ids"}:
        raise MalformedShardError("a shard holds exactly 'frame' and 'connection_ids'")
    encoded, connection_ids = shard["frame"], shard["connection_ids"]
    if not isinstance(connection_ids, list) or not connection_ids:
        raise MalformedShardError("connection_ids must be a non-empty list")
    for connection_id in connection_ids:
        if not _is_connection_id(connection_id):
            raise MalformedShardError("each of connection_ids must be a connection id")
    if isinstance(encoded, dict) and set(encoded) == {"text"} and isinstance(encoded["text"], str):
        return encoded["text"], connection_ids
    if isinstance(encoded, dict) and set(encoded) == {"bytes"} and isinstance(encoded["bytes"], str):
        try:
            return base64.b64decode(encoded["bytes"], validate=True), connection_ids
        except ValueError:
            raise MalformedShardError("a binary frame is not base64") from None
    raise MalformedShardError('the frame must be {"text": str} or {"bytes": base64}')


def _is_connection_id(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= _MAX_CONNECTION_ID_LENGTH
        and set(value) <= _CONNECTION_ID_CHARACTERS
    )


def hand_over(
    events: list[dict[str, Any]], run_here: Callable[[str | bytes, list[str]], BroadcastResult]
) -> dict[str, str]:
    """Start a shard for each event: an asynchronous invocation on Lambda (and under `asgiway dev`),
    else `run_here` on this process's shard pool. Returns the ids that could not be handed over,
    with the reason."""
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    refused: dict[str, str] = {}
    for event in events:
        shard = event[DELIVERY_EVENT_KEY][SHARD_FIELD]
        if function:
            from asgiway.deferred import invoke_asynchronously

            if not invoke_asynchronously(function, event, "a broadcast shard"):
                refused.update(dict.fromkeys(shard["connection_ids"], "could not hand its shard to Lambda"))
        else:
            frame, connection_ids = parse_shard({SHARD_FIELD: shard})
            _track(_shard_pool().submit(run_here, frame, connection_ids))
    return refused


def serve_shard(
    payload: Any, endpoint_for: Callable[[str], str | None], backend: Backend | None
) -> LambdaResponse:
    """The invocation a shard was handed to: post its frame to its ids, as the broadcast would have.
    400 (logged, never raised: Lambda would retry a raise) for a malformed payload or an unknown
    endpoint, 500 without a store."""
    from asgiway.connections import Connections

    try:
        frame, connection_ids = parse_shard(payload)
    except MalformedShardError as exc:
        logger.error("Refused a malformed broadcast shard: %s", exc)
        return {"statusCode": 400, "body": "Bad Request"}
    endpoint_url = endpoint_for(connection_ids[0])
    if endpoint_url is None:
        logger.error(
            "Refused a broadcast shard: no @connections endpoint is configured and none was recorded "
            "for connection %s",
            connection_ids[0],
        )
        return {"statusCode": 400, "body": "Bad Request"}
    if backend is None:
        logger.error("A broadcast shard needs the connection store: pass dsn= to the Adapter")
        return {"statusCode": 500, "body": "Internal Server Error"}
    result = Connections(backend=backend, endpoint_url=endpoint_url).post_to(connection_ids, frame)
    if result.failed:
        logger.warning(
            "A broadcast shard could not reach %d of %d connections", len(result.failed), len(connection_ids)
        )
    counts = {"sent": len(result.sent), "gone": len(result.gone), "failed": len(result.failed)}
    return {"statusCode": 200, "body": json.dumps(counts)}


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_running: set[Future[BroadcastResult]] = set()


def _shard_pool() -> ThreadPoolExecutor:
    # Apart from the fan-out pool: a shard waits on posts it submits there.
    global _pool  # noqa: PLW0603 - created by the first broadcast sharded in this process
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_LOCAL_SHARD_WORKERS, thread_name_prefix="asgiway-shard")
        return _pool


def _track(future: Future[BroadcastResult]) -> None:
    with _pool_lock:
        _running.add(future)
    future.add_done_callback(_forget)


def _forget(future: Future[BroadcastResult]) -> None:
    with _pool_lock:
        _running.discard(future)
    if future.exception() is not None:
        logger.error("A broadcast shard failed in this process: %s", future.exception())


def wait_for_shards(timeout: float | None = None) -> None:
    """Wait for the shards this process runs itself (tests, scripts) to finish."""
    with _pool_lock:
        running = list(_running)
    wait(running, timeout=timeout)
