"""Django Channels' tutorial chat, at the end of part 3 (asynchronous consumer), unchanged: its
`mysite.asgi.application` (Django views over HTTP, the chat consumer over WebSocket), with
CHANNEL_LAYERS set to asgiway's ConnectionsChannelLayer.

https://channels.readthedocs.io/en/stable/tutorial/part_3.html
"""

from __future__ import annotations

import importlib
from typing import Any

from tests.apps import django_project  # noqa: F401 - the tutorial's packages and settings, first

application: Any = importlib.import_module("mysite.asgi").application
