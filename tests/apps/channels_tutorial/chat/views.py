# Django Channels' tutorial, part 2: https://channels.readthedocs.io/en/stable/tutorial/part_2.html
# The docs' code, verbatim: not ours to annotate for the type checker.
# mypy: ignore-errors
# chat/views.py
from django.shortcuts import render


def index(request):
    return render(request, "chat/index.html")


def room(request, room_name):
    return render(request, "chat/room.html", {"room_name": room_name})
