"""Integrations with frameworks that need more than the ASGI interface: `asgiway.contrib.channels`
(Django Channels' channel layer on asgiway's connections and rooms)."""
