# Django Channels' tutorial, part 1: https://channels.readthedocs.io/en/stable/tutorial/part_1.html
# The docs' code, verbatim: not ours to annotate for the type checker.
# mypy: ignore-errors
# mysite/urls.py
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("chat/", include("chat.urls")),
    path("admin/", admin.site.urls),
]
