"""Errors of the registration client.

::

    RegistrationError           base of everything mizzen.registration raises
    ├── StreamEnded             one registration stream ended, or has to be given up; ``reason``
    │   │                       says why, ``code`` is the gRPC status discovery ended it with
    │   │                       (``None`` when there is none)
    │   └── NoAnswer            discovery did not answer in time: no Registered within the
    │                           open timeout, no answer to heartbeats for one TTL, or no end of
    │                           the stream after a Deregister (a frozen or unreachable replica)
    ├── RegistrationRefused     discovery refused the workload (a status in FATAL_CODES, such as
    │                           INVALID_ARGUMENT): registering it again cannot succeed;
    │                           ``target`` is the replica, ``code`` its status
    └── DiscoveryUnreachable    no replica registered the workload before the first-registration
                                deadline; ``targets`` and ``last_error`` say what was tried

:class:`~mizzen.registration.RegistrationSession` raises :class:`StreamEnded` (gRPC's
``AioRpcError`` is mapped to it in one place, ``session.py``);
:class:`~mizzen.registration.Registrar`'s task raises :class:`RegistrationRefused` and
:class:`DiscoveryUnreachable`, each from the :class:`StreamEnded` behind it.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

__all__ = [
    "FATAL_CODES",
    "DiscoveryUnreachable",
    "NoAnswer",
    "RegistrationError",
    "RegistrationRefused",
    "StreamEnded",
]

FATAL_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
    }
)
"""The statuses that end a stream because of the workload or the caller, not the replica: the
registrar gives up on them instead of trying another replica."""


class RegistrationError(Exception):
    """Base of every error mizzen.registration raises."""


class StreamEnded(RegistrationError):
    """A registration stream ended (or must be given up) for ``reason``; ``code`` is the gRPC
    status discovery ended it with, ``None`` when it ended without one."""

    def __init__(self, reason: str, code: grpc.StatusCode | None = None) -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)


class NoAnswer(StreamEnded):
    """Discovery did not answer within the time the protocol allows."""


class RegistrationRefused(RegistrationError):
    """Discovery at ``target`` refused the workload with ``code`` (one of :data:`FATAL_CODES`)."""

    def __init__(self, message: str, *, target: str, code: grpc.StatusCode | None) -> None:
        self.target = target
        self.code = code
        super().__init__(message)


class DiscoveryUnreachable(RegistrationError):
    """No replica of ``targets`` registered the workload before the first-registration
    deadline; ``last_error`` is the last attempt's failure (``""`` if none was made)."""

    def __init__(self, message: str, *, targets: Sequence[str], last_error: str) -> None:
        self.targets = tuple(targets)
        self.last_error = last_error
        super().__init__(message)
