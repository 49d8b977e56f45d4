"""The :class:`Store` contract that the etcd and in-memory implementations both honour.

The model is etcd's, and the in-memory store reproduces it exactly:

* **Revisions.** The store has one revision counter, 1 when empty. Every write that changes
  something (a put, a delete that deletes, a transaction branch that changes something, a
  lease expiry that deletes keys) increments it by one; all keys changed by that write get it
  as ``mod_revision`` and their events carry it. Reads return the revision they saw.
* **Keys** are ``bytes`` (``str`` is accepted and encoded as UTF-8); values are ``bytes``.
  See :mod:`mizzen.store.model` for :class:`KeyValue`'s fields.
* **History** is kept until :meth:`Store.compact`; reading (``range(revision=)``) or
  watching from before the compaction point raises or resets (see :meth:`Store.watch`).
* **Deadlines.** Every call that reaches the server has a deadline (the implementation's
  ``call_timeout`` setting); when it passes the call raises :class:`StoreTimeout`. Callers
  wanting a shorter deadline for one call wrap it in ``asyncio.timeout`` (which raises
  ``TimeoutError``). Watches have no deadline (they may rightly be idle); a dead or frozen
  connection under them is detected by gRPC keepalive pings (see ``EtcdSettings``).
* **Errors** are :class:`~mizzen.store.errors.StoreError` subclasses only.
* **Concurrency.** A store is used from one event loop; any number of tasks may call it
  concurrently.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self, runtime_checkable

from mizzen.store.model import (
    DeleteResult,
    Key,
    KeyValue,
    LeaseArg,
    RangeResult,
    TxnResult,
)
from mizzen.store.txn import Txn

if TYPE_CHECKING:
    from mizzen.store.lease import Lease
    from mizzen.store.watch import Watch

LostCallback = Callable[["Lease"], None]
"""Called (once, from the keepalive task) when a lease is lost; see :meth:`Store.grant`."""


@runtime_checkable
class Store(Protocol):
    """An async key-value store with revisions, transactions, resumable watches and leases."""

    async def get(self, key: Key) -> KeyValue | None:
        """The current value of ``key``, or ``None`` if it does not exist."""
        ...

    async def range(
        self,
        prefix: Key,
        *,
        revision: int | None = None,
        limit: int | None = None,
        after: Key | None = None,
        keys_only: bool = False,
    ) -> RangeResult:
        """The keys starting with ``prefix`` (empty: all keys), sorted by key.

        ``revision``: read the store as it was at that revision (``None``: now); raises
        :class:`~mizzen.store.errors.Compacted` if it is older than the compaction point and
        :class:`~mizzen.store.errors.InvalidRequest` if it is in the future.
        ``limit``: at most that many keys, ``more`` telling whether some were left out.
        ``after``: only keys strictly greater than this one (for paging; it must start with
        ``prefix``). ``keys_only``: the values come back empty (cheaper: etcd sends none).
        The result's ``revision`` is the revision read (``revision`` if given).
        """
        ...

    async def put(self, key: Key, value: bytes, *, lease: LeaseArg = None) -> int:
        """Write ``value`` at ``key`` and return the new revision.

        With ``lease`` the key is deleted when the lease ends; a lease that no longer exists
        raises :class:`~mizzen.store.errors.LeaseExpired` and writes nothing.
        """
        ...

    async def delete(self, key: Key) -> DeleteResult:
        """Delete ``key``; ``deleted`` is 0 (and the revision unchanged) if it did not exist."""
        ...

    async def delete_prefix(self, prefix: Key) -> DeleteResult:
        """Delete every key starting with ``prefix`` at one revision."""
        ...

    async def put_if(
        self, key: Key, value: bytes, *, mod_revision: int, lease: LeaseArg = None
    ) -> int:
        """Compare-and-swap: put only if ``key``'s mod_revision is ``mod_revision``.

        ``mod_revision=0`` means "only if the key does not exist" (create). Returns the new
        revision; raises :class:`~mizzen.store.errors.Conflict` carrying the key's current
        state otherwise (nothing written).
        """
        ...

    async def delete_if(self, key: Key, *, mod_revision: int) -> int:
        """Compare-and-delete: delete only if ``key``'s mod_revision is ``mod_revision``.

        Returns the revision after the call; raises :class:`~mizzen.store.errors.Conflict`
        otherwise. ``mod_revision=0`` succeeds only when the key is absent (deleting nothing).
        """
        ...

    async def commit(self, txn: Txn) -> TxnResult:
        """Apply a :class:`~mizzen.store.txn.Txn` atomically (see its docstring)."""
        ...

    def watch(self, prefix: Key, *, start_revision: int | None = None) -> Watch:
        """Every change under ``prefix`` from ``start_revision`` on.

        ``start_revision=None`` means "changes after the revision current when the watch is
        first iterated" (the watch opens lazily); to miss nothing after a read, pass that
        read's ``revision + 1``.

        Returns a :class:`~mizzen.store.watch.Watch`: an async iterator of
        :class:`~mizzen.store.model.Event` and :class:`~mizzen.store.model.Reset` items, to be
        closed with ``aclose()`` or used as ``async with``. It survives server restarts and
        connection losses by re-watching from the last seen revision + 1, so no event is lost
        or repeated. When the history it needs has been compacted, it yields one ``Reset``
        with the full listing of the prefix and continues after that listing's revision. It
        only ends by being closed, or by raising :class:`~mizzen.store.errors.StoreClosed`
        (client closed) or a non-retryable :class:`~mizzen.store.errors.StoreError`.
        """
        ...

    async def grant(self, ttl: int, *, on_lost: LostCallback | None = None) -> Lease:
        """Create a lease of ``ttl`` seconds and start keeping it alive.

        The server may raise the TTL to its minimum; ``Lease.ttl`` is the granted one. The
        returned :class:`~mizzen.store.lease.Lease` refreshes itself every ``ttl / 3`` s. If
        refreshing fails for a whole TTL, or the server reports the lease gone, or this client
        is closed, the lease is *lost*: ``on_lost`` is called once and ``Lease.lost`` is set.
        Keys put with the lease vanish when the lease is revoked or expires on the server.
        """
        ...

    async def compact(self, revision: int) -> None:
        """Discard history older than ``revision`` (reads at ``revision`` still work).

        Raises :class:`~mizzen.store.errors.Compacted` if already compacted at or past it,
        :class:`~mizzen.store.errors.InvalidRequest` if ``revision`` is in the future.
        """
        ...

    async def close(self) -> None:
        """Close the client: open watches raise StoreClosed, leases stop being kept alive.

        Leases are *not* revoked (their keys vanish when their TTL lapses, as if this process
        had died); revoke them first (``async with lease``) for a prompt release. Lost
        callbacks of the leases fire. Idempotent.
        """
        ...

    async def __aenter__(self) -> Self:
        """Return the store itself."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        ...
