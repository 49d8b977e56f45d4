"""Proxy status in etcd: written in coalesced batches, bound to this replica's lease.

Streams hand the :class:`ProxyStatusRecorder` their latest status whenever an ACK or NACK
changes it (:meth:`~ProxyStatusRecorder.record`) and tell it when they end
(:meth:`~ProxyStatusRecorder.forget`). A flush task writes what changed at most every
``flush_interval`` seconds, many statuses per transaction, each put with the replica's lease:
if the replica dies its proxies' keys vanish within the lease TTL.

A proxy that moved to another replica may have its key rewritten there before the old stream
here notices it is gone, so a key is deleted only if it still holds what this replica wrote
(compare-and-delete on the revision of our last put).
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from mizzen.snapshots.status import ProxyStatus, proxy_key
from mizzen.store import Conflict, Lease, Store, StoreError, Txn

log = structlog.get_logger(__name__)

# etcd refuses transactions of more than 128 operations by default (--max-txn-ops).
_BATCH = 100
_RETRY_MAX = 2.0


class ProxyStatusRecorder:
    """Keeps ``/mizzen/proxies/<id>`` of every proxy connected to this replica current.

    :meth:`record` and :meth:`forget` are synchronous and cheap (streams call them on every
    ACK/NACK); :meth:`run` does the writing and must run in a background task after
    :meth:`start`. :meth:`close` stops it and revokes the lease, deleting every key this
    replica holds. Use from one event loop.
    """

    def __init__(self, store: Store, *, ttl: int, flush_interval: float = 0.05) -> None:
        self._store = store
        self._ttl = ttl
        self._flush_interval = flush_interval
        self._lease: Lease | None = None
        self._lease_lost = False
        self._live: dict[str, ProxyStatus] = {}
        self._dirty: set[str] = set()
        self._deletes: dict[str, int] = {}
        self._written: dict[str, tuple[str, int]] = {}  # proxy id -> (connection, revision)
        self._wake = asyncio.Event()
        self._closed = False

    @property
    def lease(self) -> Lease | None:
        """The lease status keys are bound to (``None`` before :meth:`start`)."""
        return self._lease

    @property
    def pending(self) -> int:
        """Statuses waiting to be written or deleted."""
        return len(self._dirty) + len(self._deletes)

    async def start(self) -> None:
        """Grant the lease. Raises :class:`~mizzen.store.StoreError` if the store is down."""
        self._lease = await self._store.grant(self._ttl, on_lost=self._on_lease_lost)
        log.info("proxy status lease granted", lease_id=self._lease.id, ttl=self._lease.ttl)

    def record(self, status: ProxyStatus) -> None:
        """Make ``status`` the proxy's stored status (soon; writes are coalesced)."""
        self._live[status.proxy_id] = status
        self._dirty.add(status.proxy_id)
        self._deletes.pop(status.proxy_id, None)
        self._wake.set()

    def forget(self, proxy_id: str, connection: str) -> None:
        """The stream ``connection`` of ``proxy_id`` ended: delete the key, unless another
        connection of the same proxy recorded a status since."""
        current = self._live.get(proxy_id)
        if current is None or current.connection != connection:
            return
        del self._live[proxy_id]
        self._dirty.discard(proxy_id)
        written = self._written.pop(proxy_id, None)
        if written is not None:
            self._deletes[proxy_id] = written[1]
            self._wake.set()

    async def run(self) -> None:
        """Write and delete statuses as they change, until cancelled. Store failures are
        logged and retried (with backoff); a lost lease is granted again and every live
        status rewritten under the new one."""
        delay = self._flush_interval
        while True:
            await self._wake.wait()
            if self._flush_interval:
                await asyncio.sleep(self._flush_interval)  # coalesce a burst of ACKs
            self._wake.clear()
            try:
                await self._flush()
            except StoreError as exc:
                log.warning("proxy status write failed", error=str(exc), retry_in=delay)
                self._wake.set()
                await asyncio.sleep(delay)  # backoff before retrying the store
                delay = min(max(delay * 2, 0.05), _RETRY_MAX)
                continue
            delay = self._flush_interval

    async def close(self) -> None:
        """Revoke the lease (deleting every status key bound to it). Idempotent."""
        self._closed = True
        lease, self._lease = self._lease, None
        if lease is not None:
            with contextlib.suppress(StoreError):
                await lease.revoke()

    def _on_lease_lost(self, lease: Lease) -> None:
        log.warning("proxy status lease lost", lease_id=lease.id, reason=lease.lost_reason)
        self._lease_lost = True
        self._wake.set()

    async def _flush(self) -> None:
        if self._closed:
            return
        if self._lease_lost or self._lease is None:
            await self._regrant()
        dirty = sorted(self._dirty)
        self._dirty.clear()
        try:
            for start in range(0, len(dirty), _BATCH):
                await self._put_batch(dirty[start : start + _BATCH])
        except BaseException:
            self._dirty.update(dirty)  # put back what may not have been written
            raise
        deletes, self._deletes = self._deletes, {}
        try:
            while deletes:
                proxy_id, revision = next(iter(deletes.items()))
                with contextlib.suppress(Conflict):  # rewritten since, by us or another replica
                    await self._store.delete_if(proxy_key(proxy_id), mod_revision=revision)
                del deletes[proxy_id]
        except BaseException:
            for proxy_id, revision in deletes.items():
                self._deletes.setdefault(proxy_id, revision)
            raise

    async def _put_batch(self, proxy_ids: list[str]) -> None:
        statuses = [self._live[p] for p in proxy_ids if p in self._live]
        if not statuses:
            return
        txn = Txn()
        for status in statuses:
            txn.then_put(status.key, status.to_json(), lease=self._lease)
        revision = (await self._store.commit(txn)).revision
        for status in statuses:
            live = self._live.get(status.proxy_id)
            if live is None:
                # Its stream ended while the write was in flight: undo the write.
                self._deletes[status.proxy_id] = revision
                self._wake.set()
            elif live.connection == status.connection:
                self._written[status.proxy_id] = (status.connection, revision)
            # else: another connection of the proxy recorded since; its own put follows.

    async def _regrant(self) -> None:
        old = self._lease
        self._lease = await self._store.grant(self._ttl, on_lost=self._on_lease_lost)
        self._lease_lost = False
        self._written.clear()
        self._dirty.update(self._live)
        log.info("proxy status lease granted", lease_id=self._lease.id, ttl=self._lease.ttl,
                 replaced=old.id if old else None)  # fmt: skip
