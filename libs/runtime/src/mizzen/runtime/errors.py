"""Errors raised by ``mizzen.runtime``.

Every error this package raises on purpose derives from one base class, so a
caller can catch the whole family with one ``except``::

    MizzenRuntimeError          any failure of the shared service runtime
    ├── SettingsError           a setting's value is invalid (names the env var or flag)
    ├── BindError               a listener could not bind (names the component and address)
    ├── LifecycleError          a runtime object was used in the wrong state
    │                           (e.g. a service registered after the server started)
    └── TracingError            trace export cannot be set up (the OTLP exporter
                                does not load)

Errors carry their context as attributes as well as in the message, and are
raised ``from`` the underlying exception when there is one. Programming
errors that no configuration can fix (an unsupported settings field type)
raise the built-in ``TypeError`` instead.
"""

from __future__ import annotations

__all__ = [
    "BindError",
    "LifecycleError",
    "MizzenRuntimeError",
    "SettingsError",
    "TracingError",
]


class MizzenRuntimeError(Exception):
    """Base class of every error raised on purpose by ``mizzen.runtime``."""


class SettingsError(MizzenRuntimeError):
    """A setting could not be read.

    ``source`` names where the bad value came from: an environment variable
    (``MIZZEN_XDS_GRPC_PORT``), a flag (``--grpc-port``) or ``default``.
    ``expected`` says what would have been valid (``an integer``,
    ``one of: auto, json, console``). ``value`` is the raw text as given, or
    ``None`` when the problem is not about one value (an unknown flag).
    """

    def __init__(self, message: str, *, source: str, value: str | None, expected: str) -> None:
        super().__init__(message)
        self.source = source
        self.value = value
        self.expected = expected


class BindError(MizzenRuntimeError):
    """A listening socket could not be opened.

    ``component`` is ``grpc`` or ``metrics``; ``host`` and ``port`` are the
    address that was asked for. The message names all three, so an operator
    can tell which flag to change.
    """

    def __init__(self, *, component: str, host: str, port: int, reason: str) -> None:
        super().__init__(f"{component} server cannot listen on {host}:{port}: {reason}")
        self.component = component
        self.host = host
        self.port = port
        self.reason = reason


class LifecycleError(MizzenRuntimeError):
    """A runtime object was used in a state that does not allow it.

    Examples: registering a gRPC service after the server started, starting
    a server twice, or reading a bound port before the server started.
    """


class TracingError(MizzenRuntimeError):
    """Trace export was asked for but cannot be set up.

    Raised when an OTLP endpoint is configured and the OTLP exporter fails to
    import (for instance when its generated protobuf modules are shadowed).
    """
