# Django Channels' tutorial, part 2: https://channels.readthedocs.io/en/stable/tutorial/part_2.html
# The docs' code, verbatim: not ours to annotate for the type checker.
# mypy: ignore-errors
# chat/routing.py
from django.urls import re_path

from . import consumers

websocket_urlpatterns = [
    re_path(r"ws/chat/(?P<room_name>\w+)/$", consumers.ChatConsumer.as_asgi()),
]
