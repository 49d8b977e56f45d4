"""Errors of :mod:`mizzen.store`.

Every error a :class:`~mizzen.store.Store` raises is a :class:`StoreError`; backend errors
(gRPC status codes, aetcd exceptions) are translated in one place per backend
(:func:`mizzen.store._etcd_rpc.map_error` for etcd) and chained with ``raise ... from``.

::

    StoreError                 base of everything this package raises
    ├── StoreUnavailable       the store cannot be reached now (refused, connection lost,
    │   │                      no leader); retry later. A write's outcome is unknown.
    │   └── StoreTimeout       the call's deadline passed (e.g. a frozen etcd); a write's
    │                          outcome is unknown
    ├── StoreClosed            this client was closed; nothing will succeed on it again
    ├── Compacted              the requested revision was compacted away
    ├── Conflict               a compare-and-swap precondition did not hold
    ├── LeaseExpired           the lease does not exist any more (expired, revoked or lost)
    └── InvalidRequest         the request is malformed (empty key, future revision,
                               a key written twice in one transaction, ...)

Retrying: only :class:`StoreUnavailable` (and so :class:`StoreTimeout`) is worth retrying
unchanged. Because a write that failed with it may still have been applied, make retried
writes idempotent, e.g. with :meth:`~mizzen.store.Store.put_if` and ``mod_revision=0``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mizzen.store.model import KeyValue


class StoreError(Exception):
    """Base of every error this package raises."""


class StoreUnavailable(StoreError):
    """The store could not be reached, or the connection was lost during the call.

    ``operation`` names the call (``"put"``, ``"watch"``, ...). A write that raised this may
    or may not have been applied.
    """

    def __init__(self, message: str, *, operation: str = "") -> None:
        self.operation = operation
        super().__init__(f"{operation}: {message}" if operation else message)


class StoreTimeout(StoreUnavailable):
    """The call did not complete before its deadline (``timeout`` seconds)."""

    def __init__(self, message: str, *, operation: str = "", timeout: float | None = None) -> None:
        self.timeout = timeout
        super().__init__(message, operation=operation)


class StoreClosed(StoreError):
    """The client was closed (by :meth:`~mizzen.store.Store.close`) before or during the call."""


class Compacted(StoreError):
    """The requested revision is older than the store's compaction point.

    ``compact_revision`` is the oldest revision still readable when the backend reports it
    (etcd's watch does, its range does not), else ``None``.
    """

    def __init__(self, message: str, *, compact_revision: int | None = None) -> None:
        self.compact_revision = compact_revision
        super().__init__(message)


class Conflict(StoreError):
    """A compare-and-swap did not apply: ``key`` was not at ``expected_mod_revision``.

    ``current`` is the key as it was when the swap was refused (``None``: it did not exist),
    read atomically with the refused compare.
    """

    def __init__(self, key: bytes, *, expected_mod_revision: int, current: KeyValue | None) -> None:
        self.key = key
        self.expected_mod_revision = expected_mod_revision
        self.current = current
        actual = current.mod_revision if current is not None else 0
        super().__init__(f"{key!r}: expected mod_revision {expected_mod_revision}, found {actual}")


class LeaseExpired(StoreError):
    """The lease ``lease_id`` is not (or no longer) held: it expired, was revoked or was lost."""

    def __init__(self, message: str, *, lease_id: int | None = None) -> None:
        self.lease_id = lease_id
        super().__init__(message)


class InvalidRequest(StoreError):
    """The request cannot be served as asked; retrying it unchanged fails the same way."""
