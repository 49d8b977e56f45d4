"""Errors raised by ``mizzen.bus``.

Every error this package raises on purpose derives from one base class, and both bus
implementations (NATS and in memory) raise the same classes for the same situations::

    BusError                    any failure raised on purpose by mizzen.bus
    ├── BusUrlError             the URL given to open_bus is malformed (also a ValueError)
    ├── SubjectError            a subject pattern, token value or binding is invalid
    │                           (also a ValueError: it is the caller's mistake)
    ├── PayloadError            a payload could not be converted or carried
    │   ├── EncodeError         the value does not fit the subject's codec
    │   ├── DecodeError         received bytes do not decode as the subject's payload type
    │   └── PayloadTooLarge     the encoded payload exceeds the server's maximum
    ├── BusUnavailable          the bus cannot carry the call (never connected, buffer full)
    │   └── BusClosed           the bus (or the subscription, consumer) was closed by its owner
    ├── RequestError            a request got no usable reply
    │   ├── RequestTimeout      no reply within the deadline (slow responder, lost reply,
    │   │                       or the connection was down for the whole deadline)
    │   ├── NoResponders        nobody was subscribed to the subject when the request arrived
    │   └── ResponderError      the responder received the request and reported a failure
    └── StreamError             a JetStream (durable stream) operation failed
        ├── NoStream            no stream captures the subject, or the named stream is missing
        └── AckError            an acknowledgement was refused or could not be confirmed

Errors carry their context as attributes as well as in the message, and are raised
``from`` the underlying nats-py exception when there is one. nats-py exceptions are
mapped to these in exactly one place, :mod:`mizzen.bus.nats_errors`.
"""

from __future__ import annotations

__all__ = [
    "AckError",
    "BusClosed",
    "BusError",
    "BusUnavailable",
    "BusUrlError",
    "DecodeError",
    "EncodeError",
    "NoResponders",
    "NoStream",
    "PayloadError",
    "PayloadTooLarge",
    "RequestError",
    "RequestTimeout",
    "ResponderError",
    "StreamError",
    "SubjectError",
]


class BusError(Exception):
    """Base class of every error raised on purpose by ``mizzen.bus``.

    ``subject`` names the subject (or stream) the failed call was about, when there is one.
    """

    def __init__(self, message: str, *, subject: str | None = None) -> None:
        super().__init__(message)
        self.subject = subject


class BusUrlError(BusError, ValueError):
    """The URL given to :func:`~mizzen.bus.open_bus` is malformed or has an unknown scheme.
    ``url`` is the URL as given."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class SubjectError(BusError, ValueError):
    """A subject pattern, a token value or a binding is invalid.

    Raised for a malformed pattern (``a..b``), a token value containing ``.``, ``*``, ``>``
    or whitespace, a binding of an unknown token, and publishing to a subject that still has
    unbound tokens or wildcards.
    """


class PayloadError(BusError):
    """A payload could not be converted or carried. ``payload_type`` names the expected type."""

    def __init__(self, message: str, *, subject: str | None = None, payload_type: str) -> None:
        super().__init__(message, subject=subject)
        self.payload_type = payload_type


class EncodeError(PayloadError):
    """The value given to publish does not fit the subject's codec (wrong type, not JSON-able)."""


class DecodeError(PayloadError):
    """Bytes received on ``subject`` do not decode as ``payload_type``.

    Subscriptions and consumers never raise this to their reader: they log and count the bad
    message and go on. It is raised to a requester whose reply does not decode.
    """


class PayloadTooLarge(PayloadError):
    """The encoded payload (``size`` bytes) exceeds the server's maximum payload."""

    def __init__(self, message: str, *, subject: str | None = None, payload_type: str, size: int):
        super().__init__(message, subject=subject, payload_type=payload_type)
        self.size = size


class BusUnavailable(BusError):
    """The bus cannot carry the call now: it could not connect within its deadline, or its
    outgoing buffer is full while it reconnects."""


class BusClosed(BusUnavailable):
    """The bus, subscription or consumer was closed by its owner; it will not come back."""


class RequestError(BusError):
    """A request got no usable reply. ``timeout`` is the deadline the request had, in seconds."""

    def __init__(self, message: str, *, subject: str | None = None, timeout: float) -> None:
        super().__init__(message, subject=subject)
        self.timeout = timeout


class RequestTimeout(RequestError):
    """No reply arrived within the deadline.

    A responder may exist (it was slow, or the reply was lost), or the connection was down for
    the whole deadline. Contrast :class:`NoResponders`, where the server knew nobody listened.
    """


class NoResponders(RequestError):
    """Nobody was subscribed to the request's subject: the request was dropped at once."""


class ResponderError(RequestError):
    """The responder received the request and reported a failure.

    ``remote_error`` is the responder's one-line description (``"DecodeError: ..."`` for a
    request it could not decode, ``"<ExceptionType>: <message>"`` for a handler that raised).
    """

    def __init__(
        self, message: str, *, subject: str | None = None, timeout: float, remote_error: str
    ) -> None:
        super().__init__(message, subject=subject, timeout=timeout)
        self.remote_error = remote_error


class StreamError(BusError):
    """A JetStream operation failed.

    ``stream`` is the stream's name when known; ``code`` is JetStream's numeric error code
    (``err_code``, e.g. 10058 for a stream name in use with another configuration) when the
    server gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        subject: str | None = None,
        stream: str | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message, subject=subject)
        self.stream = stream
        self.code = code


class NoStream(StreamError):
    """No stream captures the subject published to, or the named stream does not exist."""


class AckError(StreamError):
    """An acknowledgement was refused (the delivery was already acknowledged) or could not be
    confirmed by the server (timeout, disconnection). An unconfirmed ack is not a loss: the
    message will be delivered again after the consumer's ``ack_wait``."""
