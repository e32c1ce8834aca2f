"""Settings for the tutorial's `mysite` project: ours, since the tutorial's come from `startproject`.

What the tutorial adds is here (INSTALLED_APPS with `chat`, ASGI_APPLICATION), but `daphne` (its
development server, not needed behind asgiway) and a channel layer on asgiway instead of Redis.
"""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "tests-only-not-a-secret"  # the test project's: it signs nothing real
DEBUG = True
# API Gateway's execute-api hosts, asgiway dev's loopback, and Django's test client.
ALLOWED_HOSTS = [".amazonaws.com", "127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "chat",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "mysite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The tutorial uses no database ("We won't be using a database in this tutorial").
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

ASGI_APPLICATION = "mysite.asgi.application"
# --8<-- [start:channel_layers]
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "asgiway.contrib.channels.ConnectionsChannelLayer",
    },
}
# --8<-- [end:channel_layers]
