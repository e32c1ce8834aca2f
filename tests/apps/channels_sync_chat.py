"""Django Channels' tutorial chat with its part 2 consumer (a synchronous `WebsocketConsumer`,
`chat/sync_consumers.py`), routed as the tutorial's `mysite/asgi.py` and `chat/routing.py` route
the part 3 one.

https://channels.readthedocs.io/en/stable/tutorial/part_2.html
"""

# The settings first (Channels' auth imports Django's models), so imports are not sorted:
# ruff: noqa: I001
from __future__ import annotations

import importlib
from typing import Any

from tests.apps import django_project  # noqa: F401 - the tutorial's packages and settings, first

from channels.auth import AuthMiddlewareStack  # type: ignore[import-untyped]
from channels.routing import ProtocolTypeRouter, URLRouter  # type: ignore[import-untyped]
from channels.security.websocket import AllowedHostsOriginValidator  # type: ignore[import-untyped]
from django.urls import re_path  # type: ignore[import-untyped]

ChatConsumer: Any = importlib.import_module("chat.sync_consumers").ChatConsumer
django_asgi_app: Any = importlib.import_module("mysite.asgi").django_asgi_app

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([re_path(r"ws/chat/(?P<room_name>\w+)/$", ChatConsumer.as_asgi())]))
        ),
    }
)
