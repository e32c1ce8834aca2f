"""The chat example's JSON frames (examples/chat/app.py) as the one line a person would read."""

from __future__ import annotations

import json


def readable(data: str | bytes) -> str:
    """E.g. "Welcome to #lobby, ada! (ada, bob)", "bob joined (ada, bob)", "ada: hi", "bob left (ada)"."""
    frame = json.loads(data)
    kind = frame["type"]
    members = f" ({', '.join(frame['members'])})" if "members" in frame else ""
    if kind == "welcome":
        return f"Welcome to #{frame['room']}, {frame['name']}!{members}"
    if kind in ("joined", "left"):
        return f"{frame['name']} {kind}{members}"
    if kind == "message":
        return f"{frame['name']}: {frame['text']}"
    assert kind == "notice", frame
    return str(frame["text"])
