"""The errors asgiway raises, each saying what went wrong and what to do about it."""


class AsgiwayError(Exception):
    """Base class of every error asgiway raises on purpose."""


class ConfigurationError(AsgiwayError):
    """An option or a dsn is invalid. Raised at construction, never echoing a password."""


class UnknownEventError(AsgiwayError):
    """The Lambda event matches no supported event source (API Gateway, Function URL, ALB)."""


class LifespanError(AsgiwayError):
    """The app's lifespan startup or shutdown failed, or a required lifespan is unsupported."""


class BackendError(AsgiwayError):
    """The connection store could not be reached or answered with an error."""
