"""Quart's documented echo (quart_echo.py) with a page to try it: Quart's chat tutorial page
(quart_chat_page.html, unchanged), served at "/" as the tutorial serves it, which talks to the
echo's WebSocket route. The browser test opens it through `asgiway dev`'s HTTP API.

https://quart.palletsprojects.com/en/latest/tutorials/chat_tutorial.html
"""

from __future__ import annotations

from pathlib import Path

from tests.apps.quart_echo import app

PAGE = (Path(__file__).resolve().parent / "quart_chat_page.html").read_text()


@app.get("/")
async def index() -> str:
    return PAGE
