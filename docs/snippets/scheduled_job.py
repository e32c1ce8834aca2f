"""A scheduled job, in a Lambda function of its own, that speaks to every client in a room."""

import asyncio
import os
from typing import Any

from asgiway.connections import Connections


async def announce(text: str, room: str) -> dict[str, Any]:
    # DSN_URL: the app's store; CONNECTIONS_URL: the construct's `connections_url` output.
    connections = Connections(dsn=os.environ["DSN_URL"], endpoint_url=os.environ["CONNECTIONS_URL"])
    result = await connections.broadcast(text, room=room)
    return {"sent": len(result.sent), "gone": result.gone, "failed": result.failed}


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return asyncio.run(announce(event["text"], event.get("room", "lobby")))
