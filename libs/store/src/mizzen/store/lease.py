"""A lease and the keepalive loop it owns; the same for every store implementation."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

import structlog

from mizzen.store.errors import LeaseExpired, StoreClosed, StoreError, StoreUnavailable

log = structlog.get_logger(__name__)


class LeaseTransport(Protocol):
    """What a store provides for leases (internal seam between a Lease and its store)."""

    async def keepalive_once(self, lease_id: int) -> int:
        """Refresh the lease; return its renewed TTL in seconds, 0 if it no longer exists."""
        ...

    async def revoke_lease(self, lease_id: int) -> None:
        """Revoke the lease (its keys are deleted); LeaseExpired if it does not exist."""
        ...


class Lease:
    """A lease held by this process, kept alive by a task this object owns.

    Created by :meth:`~mizzen.store.Store.grant`, already alive and being refreshed every
    ``ttl / 3`` seconds. Pass it (or its ``id``) as ``lease=`` to ``put`` so that keys vanish
    when it ends. Use it as ``async with`` to revoke it on exit.

    The lease is *lost* when a refresh has not succeeded for a whole TTL (counted from the
    moment the last successful refresh was sent, so the server cannot have extended it
    further), when the server says it no longer exists, or when its store is closed. Then
    :attr:`lost` is true, :meth:`wait_lost` returns, and every lost callback is called once
    (synchronously, from the keepalive task; exceptions are logged). A lost lease is not
    refreshed again. Revoking is not losing: :meth:`revoke` calls no callback.
    """

    def __init__(
        self,
        transport: LeaseTransport,
        lease_id: int,
        ttl: int,
        *,
        granted_at: float,
        on_lost: Callable[[Lease], None] | None = None,
    ) -> None:
        self._transport = transport
        self._id = lease_id
        self._ttl = ttl
        self._deadline = granted_at + ttl
        self._lost = asyncio.Event()
        self._lost_reason: str | None = None
        self._revoked = False
        self._callbacks: list[Callable[[Lease], None]] = [on_lost] if on_lost else []
        self._task: asyncio.Task[None] | None = None

    @property
    def id(self) -> int:
        """The lease id as the store knows it."""
        return self._id

    @property
    def ttl(self) -> int:
        """The granted time to live, in seconds."""
        return self._ttl

    @property
    def deadline(self) -> float:
        """``time.monotonic()`` until which the lease is certainly held, unless revoked."""
        return self._deadline

    @property
    def lost(self) -> bool:
        """Whether the lease was lost (see the class docstring)."""
        return self._lost.is_set()

    @property
    def lost_reason(self) -> str | None:
        """Why the lease was lost, ``None`` while it is not."""
        return self._lost_reason

    @property
    def revoked(self) -> bool:
        """Whether :meth:`revoke` was called."""
        return self._revoked

    def add_lost_callback(self, callback: Callable[[Lease], None]) -> None:
        """Call ``callback(lease)`` when the lease is lost (right away if it already is)."""
        if self.lost:
            self._call(callback)
        else:
            self._callbacks.append(callback)

    def remove_lost_callback(self, callback: Callable[[Lease], None]) -> None:
        """Forget a callback added with :meth:`add_lost_callback` (no error if absent)."""
        with contextlib.suppress(ValueError):
            self._callbacks.remove(callback)

    async def wait_lost(self) -> None:
        """Return once the lease is lost (never, if it is revoked first)."""
        await self._lost.wait()

    def start(self) -> None:
        """Start the keepalive task (called by the store that granted the lease)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._keepalive(), name=f"lease-keepalive-{self._id:x}"
            )

    async def revoke(self) -> None:
        """Stop refreshing and revoke the lease now, deleting its keys. Idempotent.

        Revoking a lease the server already dropped is not an error. If the server cannot be
        reached this raises :class:`~mizzen.store.errors.StoreUnavailable`; the lease then
        expires on its own within its TTL since nobody refreshes it any more.
        """
        await self._stop()
        if self._revoked:
            return
        self._revoked = True
        if self.lost:
            return
        with contextlib.suppress(LeaseExpired):
            await self._transport.revoke_lease(self._id)

    async def abandon(self, reason: str) -> None:
        """Stop refreshing without revoking, and mark the lease lost (used by ``close``)."""
        await self._stop()
        if not self._revoked:
            self._mark_lost(reason)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.revoke()
        except StoreError as revoke_error:
            # The keepalive is stopped, so the lease ends within its TTL anyway; raising here
            # would mask the body's own exception.
            log.warning("lease revoke failed", lease_id=self._id, error=str(revoke_error))

    async def _stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _keepalive(self) -> None:
        interval = self._ttl / 3
        delay = interval
        while True:
            # The keepalive period (or a quicker retry after a failure), bounded by the
            # deadline so that a loss is declared as soon as it is certain.
            await asyncio.sleep(max(0.0, min(delay, self._deadline - time.monotonic())))
            sent_at = time.monotonic()
            remaining = self._deadline - sent_at
            if remaining <= 0:
                self._mark_lost("keepalive failed for a whole TTL")
                return
            try:
                async with asyncio.timeout(remaining):
                    ttl = await self._transport.keepalive_once(self._id)
            except (StoreUnavailable, TimeoutError) as exc:
                log.warning("lease keepalive failed", lease_id=self._id, error=repr(exc))
                delay = max(0.05, interval / 4)
                continue
            except StoreClosed:
                self._mark_lost("store closed")
                return
            except StoreError as exc:
                self._mark_lost(f"keepalive refused: {exc}")
                return
            if ttl <= 0:
                self._mark_lost("expired on the server")
                return
            self._deadline = sent_at + ttl
            delay = interval

    def _mark_lost(self, reason: str) -> None:
        if self.lost:
            return
        self._lost_reason = reason
        self._lost.set()
        log.warning("lease lost", lease_id=self._id, reason=reason)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            self._call(callback)

    def _call(self, callback: Callable[[Lease], None]) -> None:
        try:
            callback(self)
        except Exception:
            log.exception("lease lost callback failed", lease_id=self._id)
