# Django Channels' tutorial, part 2: https://channels.readthedocs.io/en/stable/tutorial/part_2.html
# The docs' code, verbatim: not ours to annotate for the type checker.
# mypy: ignore-errors
# chat/urls.py
from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("<str:room_name>/", views.room, name="room"),
]
