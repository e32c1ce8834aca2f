"""The errors asgiway raises, each saying what went wrong and what to do about it."""


class AsgiwayError(Exception):
    """Base class of every error asgiway raises on purpose."""


class ConfigurationError(AsgiwayError):
    """An option or a dsn is invalid. Raised at construction, never echoing a password."""


class MalformedEventError(AsgiwayError, ValueError):
    """An event lacks a field its source always sends, or has it in the wrong type.

    The handler never raises it: it answers 400 and logs what was wrong.
    """


class LifespanError(AsgiwayError):
    """The app's lifespan startup or shutdown failed, or a required lifespan is unsupported."""


class BackendError(AsgiwayError):
    """The connection store could not be reached or answered with an error."""


class TooManyRoomsError(AsgiwayError):
    """A connection would join more rooms than `connections.MAX_ROOMS_PER_CONNECTION`."""


class SessionEndedError(AsgiwayError, RuntimeError):
    """A WebSocket (or its `receive`/`send`) was used after the event it belongs to had ended.

    On Lambda every API Gateway event runs one ASGI session of its own, so a WebSocket object kept
    from an earlier event (an in-memory list of connections, as in a `ConnectionManager`) can no
    longer reach its client: `Connections` does, from any event.
    """
