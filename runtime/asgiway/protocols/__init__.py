"""The ASGI state machines: each runs an app for one Lambda event through `receive` and `send`."""
