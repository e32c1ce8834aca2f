"""Django Channels' tutorial project (channels_tutorial/), set up for the tests and `asgiway dev`.

Its packages are imported as the tutorial names them, `mysite` and `chat`, so its folder goes on
`sys.path`; Django is configured from `mysite.settings` once per process, as `manage.py` would.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import django  # type: ignore[import-untyped]

PROJECT = Path(__file__).resolve().parent / "channels_tutorial"

if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django.setup()
