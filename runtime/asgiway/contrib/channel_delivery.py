"""Recognising the asynchronous invocation that carries channel-layer messages to consumers (see
`asgiway.contrib.channels.deliveries`), apart from it so that every event's check costs a cold
start nothing."""

from __future__ import annotations

from typing import Any

#: The key that marks an event as a delivery of channel-layer messages (never an API Gateway key).
CHANNEL_DELIVERY_KEY = "asgiway.channel"


def is_channel_delivery(event: Any) -> bool:
    return isinstance(event, dict) and isinstance(event.get(CHANNEL_DELIVERY_KEY), dict)
