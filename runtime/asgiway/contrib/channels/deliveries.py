"""Channel-layer messages on their way to other connections' consumers.

A message a consumer sends to another connection's channel (`send`, or `group_send` to a group
with other members) is delivered once the sender's session is over, by replaying the recipient's
consumer with the message on its channel: one replay per recipient, carrying every message the
session sent it, in order.

On Lambda the replays run in asynchronous invocations of the same function (Lambda's Invoke API,
InvocationType "Event"), the path that CONNECT frames take (`asgiway.deferred`): up to
RECIPIENTS_PER_INVOCATION recipients each, so a large group fans out over several containers.
Lambda delivers an asynchronous invocation at least once: it retries one that failed, so a
recipient may see a message twice. An invocation's replays never raise (a failure is logged),
which leaves only Lambda's own retries (throttling, a lost container). Elsewhere (tests, scripts)
the same process replays the recipients right after the sender's session, before its event
returns.

The payload names connections and carries the messages, never an endpoint: replies go where the
recipient's CONNECT recorded, as for CONNECT frames. Messages travel as JSON: a message must be a
dict with a string `type`, made of dicts with string keys, lists, strings, numbers, booleans,
None and bytes; anything else is refused at `send`/`group_send`, in the sender, at once.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import re
from collections.abc import Iterable
from typing import Any

from asgiway.contrib.channel_delivery import CHANNEL_DELIVERY_KEY
from asgiway.deferred import MAX_ASYNC_PAYLOAD_BYTES, invoke_asynchronously
from asgiway.types import LambdaContext

logger = logging.getLogger("asgiway")

Message = dict[str, Any]
#: One recipient's connection id, and the messages for it, in order.
Delivery = tuple[str, list[Message]]

#: At most this many recipients are replayed by one asynchronous invocation, one after the other.
RECIPIENTS_PER_INVOCATION = 10
#: How a bytes value travels in JSON.
_BYTES_TAG = "asgiway.bytes"
#: API Gateway's connection ids are short base64-like strings; a payload's must look like one.
_CONNECTION_ID = re.compile(r"[A-Za-z0-9+/=_-]{1,128}")


class MalformedChannelDeliveryError(ValueError):
    """A channel delivery payload that is not exactly the documented shape."""


def checked_message(message: object) -> Message:
    """A copy of `message` as a recipient in any container gets it; TypeError when it cannot travel."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise TypeError(f"A channel message must be a dict with a string 'type', not {message!r:.80}")
    copy: Message = _decoded(_encoded(message))
    return copy


def by_recipient(outgoing: Iterable[tuple[str, Message]]) -> list[Delivery]:
    """One delivery per recipient, in the order each was first sent to, its messages in order."""
    grouped: dict[str, list[Message]] = {}
    for connection_id, message in outgoing:
        grouped.setdefault(connection_id, []).append(message)
    return list(grouped.items())


def lambda_function(context: LambdaContext | None) -> str | None:
    """The ARN to invoke when running on Lambda (the Invoke API reaches this same function)."""
    function = getattr(context, "invoked_function_arn", None)
    if isinstance(function, str) and function and os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return function
    return None


def hand_over(function: str, deliveries: list[Delivery]) -> None:
    """Start the asynchronous invocations that replay the recipients (blocking: call it in a thread)."""
    for batch in _batches(deliveries):
        invoke_asynchronously(function, _event(batch), "channel-layer messages")


def parse_deliveries(payload: object) -> list[Delivery]:
    """The deliveries of a channel delivery event's payload, checked field by field."""
    if not isinstance(payload, dict) or set(payload) != {"deliveries"}:
        raise MalformedChannelDeliveryError('the payload must be {"deliveries": [...]}')
    items = payload["deliveries"]
    if not isinstance(items, list) or not items:
        raise MalformedChannelDeliveryError("deliveries must be a non-empty list")
    deliveries: list[Delivery] = []
    for item in items:
        if not isinstance(item, dict) or set(item) != {"connection_id", "messages"}:
            raise MalformedChannelDeliveryError('a delivery must be {"connection_id": .., "messages": [..]}')
        connection_id, messages = item["connection_id"], item["messages"]
        if not isinstance(connection_id, str) or not _CONNECTION_ID.fullmatch(connection_id):
            raise MalformedChannelDeliveryError("connection_id must be a connection id")
        if not isinstance(messages, list) or not messages:
            raise MalformedChannelDeliveryError("messages must be a non-empty list")
        try:
            deliveries.append((connection_id, [checked_message(_decoded(message)) for message in messages]))
        except (TypeError, ValueError) as exc:
            raise MalformedChannelDeliveryError(f"a message is malformed: {exc}") from None
    return deliveries


def _event(deliveries: list[Delivery]) -> dict[str, Any]:
    return {
        CHANNEL_DELIVERY_KEY: {
            "deliveries": [
                {"connection_id": connection_id, "messages": [_encoded(message) for message in messages]}
                for connection_id, messages in deliveries
            ]
        }
    }


def _batches(deliveries: list[Delivery]) -> list[list[Delivery]]:
    """Recipients in groups of RECIPIENTS_PER_INVOCATION, split further where a payload is too large."""
    batches: list[list[Delivery]] = []
    for start in range(0, len(deliveries), RECIPIENTS_PER_INVOCATION):
        batches.extend(_fitting(deliveries[start : start + RECIPIENTS_PER_INVOCATION]))
    return batches


def _fitting(batch: list[Delivery]) -> list[list[Delivery]]:
    size = len(json.dumps(_event(batch)).encode())
    if size <= MAX_ASYNC_PAYLOAD_BYTES:
        return [batch]
    if len(batch) == 1:
        logger.error(
            "Channel-layer messages for connection %s make %d bytes, over Lambda's %d for an "
            "asynchronous invocation: not delivered",
            batch[0][0],
            size,
            MAX_ASYNC_PAYLOAD_BYTES,
        )
        return []
    middle = len(batch) // 2
    return _fitting(batch[:middle]) + _fitting(batch[middle:])


def _encoded(value: object) -> Any:
    """`value` as JSON can carry it (bytes tagged); TypeError for what a message cannot hold."""
    if isinstance(value, bytes):
        return {_BYTES_TAG: base64.b64encode(value).decode()}
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"a channel message cannot hold {value!r}")
        return value
    if isinstance(value, list | tuple):
        return [_encoded(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("a channel message's dicts must have string keys")
        return {key: _encoded(item) for key, item in value.items()}
    raise TypeError(f"a channel message cannot hold a {type(value).__name__}")


def _decoded(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_BYTES_TAG} and isinstance(value[_BYTES_TAG], str):
            return base64.b64decode(value[_BYTES_TAG], validate=True)
        return {key: _decoded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decoded(item) for item in value]
    return value
