"""Leader election on any :class:`~mizzen.store.Store`, after etcd's election recipe.

Each candidate writes ``<prefix><lease id, 16 hex digits>`` with its value, attached to its
own lease, only if the key does not exist yet (a transaction). The key with the lowest
``create_revision`` leads; a candidate waits until every key created before its own is
gone. Keys vanish when their lease is revoked or expires, so a dead leader is replaced
within its lease TTL. Leadership ends when the key is deleted (resign, lease expiry) or the
lease is lost locally::

    election = Election(store, "/mizzen/election/xds")
    async with await store.grant(2) as lease:
        leadership = await election.campaign(b"replica-a", lease=lease)  # blocks until leader
        ...  # lead; leadership.lost / await leadership.wait_lost()
        await leadership.resign()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

import structlog

from mizzen.store.contract import Store
from mizzen.store.errors import LeaseExpired, StoreError
from mizzen.store.lease import Lease
from mizzen.store.model import Event, EventType, Key, KeyValue, Reset, WatchItem, encode_key
from mizzen.store.txn import Txn
from mizzen.store.watch import Watch, apply_to_view, list_prefix

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Leader:
    """The current leader: its election key, value, key creation revision and lease id."""

    key: bytes
    value: bytes
    create_revision: int
    lease: int


def _leader(view: dict[bytes, KeyValue]) -> Leader | None:
    if not view:
        return None
    kv = min(view.values(), key=lambda kv: kv.create_revision)
    return Leader(kv.key, kv.value, kv.create_revision, kv.lease)


async def _next_item(watch: Watch) -> WatchItem:
    return await watch.__anext__()


class Election:
    """One election, named by a key prefix (a ``/`` is appended if missing).

    Any number of tasks and processes may campaign, observe and resign concurrently.
    """

    def __init__(self, store: Store, name: Key) -> None:
        prefix = encode_key(name, what="election name")
        self._store = store
        self._prefix = prefix if prefix.endswith(b"/") else prefix + b"/"

    @property
    def prefix(self) -> bytes:
        """The key prefix under which candidates register."""
        return self._prefix

    async def leader(self) -> Leader | None:
        """The current leader, or ``None`` when nobody campaigns."""
        listing = await list_prefix(self._store, self._prefix)
        return _leader({kv.key: kv for kv in listing.kvs})

    async def observe(self) -> AsyncGenerator[Leader | None, None]:
        """The current leader, then every change of leader (or of its value).

        Yields ``None`` while nobody campaigns. Survives store restarts as watches do.
        Close it (``contextlib.aclosing``) to stop its watch promptly.
        """
        listing = await list_prefix(self._store, self._prefix)
        view = {kv.key: kv for kv in listing.kvs}
        current = _leader(view)
        yield current
        async with self._store.watch(self._prefix, start_revision=listing.revision + 1) as watch:
            async for item in watch:
                apply_to_view(view, item)
                leader = _leader(view)
                if leader != current:
                    current = leader
                    yield current

    async def campaign(
        self,
        value: bytes,
        *,
        lease: Lease,
        on_lost: Callable[[Leadership], None] | None = None,
    ) -> Leadership:
        """Register as candidate with ``value`` and return once this candidate leads.

        The candidacy is bound to ``lease``: if the lease is lost or the candidate key is
        deleted while waiting, raises :class:`~mizzen.store.errors.LeaseExpired`. If the
        call is cancelled or fails, the candidate key is deleted (best effort) so that it
        cannot become leader unbeknownst. Campaigning again with the same lease re-uses
        its key (and updates the value). ``on_lost`` is passed to the :class:`Leadership`.
        """
        if lease.lost:
            raise LeaseExpired("campaign: the lease is lost", lease_id=lease.id)
        key = self._prefix + f"{lease.id:016x}".encode()
        create_revision: int | None = None
        try:
            create_revision = await self._register(key, value, lease)
            seen = await self._wait_first(key, create_revision, lease)
        except BaseException:
            await self._withdraw(key, create_revision)
            raise
        leadership = Leadership(
            self._store, key, value, create_revision, lease, seen_revision=seen, on_lost=on_lost
        )
        leadership.start()
        log.info("election won", election=self._prefix, key=key, create_revision=create_revision)
        return leadership

    async def _withdraw(self, key: bytes, create_revision: int | None) -> None:
        """Best effort: delete our candidate key (registered or maybe registered)."""
        txn = Txn()
        if create_revision is not None:
            txn.when_create_revision(key, "==", create_revision)
        with contextlib.suppress(StoreError):
            await self._store.commit(txn.then_delete(key))

    async def _register(self, key: bytes, value: bytes, lease: Lease) -> int:
        while True:
            created = await self._store.commit(
                Txn().when_missing(key).then_put(key, value, lease=lease)
            )
            if created.succeeded:
                return created.revision
            current = await self._store.get(key)
            if current is None:
                continue  # deleted in between (our lease just expired?): try again
            if current.value != value:
                await self._store.put(key, value, lease=lease)
            return current.create_revision

    async def _wait_first(self, key: bytes, create_revision: int, lease: Lease) -> int:
        """Wait until ``key`` is the oldest candidate; return the revision seen up to."""
        listing = await list_prefix(self._store, self._prefix)
        view = {kv.key: kv for kv in listing.kvs}
        seen = listing.revision
        lost = asyncio.ensure_future(lease.wait_lost())
        pending: asyncio.Task[WatchItem] | None = None
        try:
            async with self._store.watch(self._prefix, start_revision=seen + 1) as watch:
                while True:
                    if key not in view:
                        raise LeaseExpired("campaign: candidate key deleted", lease_id=lease.id)
                    leader = _leader(view)
                    if leader is not None and leader.key == key:
                        return seen
                    pending = asyncio.ensure_future(_next_item(watch))
                    await asyncio.wait({pending, lost}, return_when=asyncio.FIRST_COMPLETED)
                    if not pending.done():
                        raise LeaseExpired("campaign: the lease was lost", lease_id=lease.id)
                    item, pending = pending.result(), None
                    apply_to_view(view, item)
                    seen = item.revision
        finally:
            for task in (pending, lost):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


class Leadership:
    """Proof of leading an :class:`Election`, until :attr:`lost` or :meth:`resign`.

    It is lost when the lease is lost, when the candidate key is deleted (lease expired or
    revoked on the server, someone deleted it) or when its watch fails beyond retry (the
    store was closed). Then :attr:`lost` is true, :meth:`wait_lost` returns and ``on_lost``
    is called once. :meth:`resign` ends it without calling ``on_lost``.
    """

    def __init__(
        self,
        store: Store,
        key: bytes,
        value: bytes,
        create_revision: int,
        lease: Lease,
        *,
        seen_revision: int,
        on_lost: Callable[[Leadership], None] | None = None,
    ) -> None:
        self._store = store
        self.key = key
        """The candidate key this leadership holds."""
        self.value = value
        """The value proclaimed by this leader."""
        self.create_revision = create_revision
        """The revision that created the candidate key."""
        self.lease = lease
        """The lease the candidacy is bound to."""
        self._seen = seen_revision
        self._on_lost = on_lost
        self._lost = asyncio.Event()
        self._lost_reason: str | None = None
        self._resigned = False
        self._monitor: asyncio.Task[None] | None = None

    @property
    def lost(self) -> bool:
        """Whether leadership was lost (not by resigning)."""
        return self._lost.is_set()

    @property
    def lost_reason(self) -> str | None:
        """Why leadership was lost, ``None`` while it is held."""
        return self._lost_reason

    async def wait_lost(self) -> None:
        """Return once leadership is lost (never, if resigned first)."""
        await self._lost.wait()

    def start(self) -> None:
        """Start watching for the loss of leadership (done by :meth:`Election.campaign`)."""
        self.lease.add_lost_callback(self._lease_lost)
        self._monitor = asyncio.get_running_loop().create_task(
            self._watch_key(), name=f"leadership-{self.key!r}"
        )

    async def resign(self) -> None:
        """Give up leadership: delete the candidate key (if still ours). Idempotent.

        The lease itself stays with its owner. Raises StoreUnavailable if the store cannot
        be reached; leadership then ends at the latest when the lease does.
        """
        if self._resigned:
            return
        self._resigned = True
        self.lease.remove_lost_callback(self._lease_lost)
        await self._stop_monitor()
        if not self.lost:
            await self._store.commit(
                Txn()
                .when_create_revision(self.key, "==", self.create_revision)
                .then_delete(self.key)
            )
        log.info("election resigned", key=self.key)

    async def _stop_monitor(self) -> None:
        task, self._monitor = self._monitor, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _lease_lost(self, lease: Lease) -> None:
        self._mark_lost(f"lease lost: {lease.lost_reason}")
        if self._monitor is not None:
            self._monitor.cancel()

    async def _watch_key(self) -> None:
        try:
            # From the last revision seen while campaigning, not one past it: that revision
            # may have had more events than the campaign consumed.
            async with self._store.watch(self.key, start_revision=self._seen) as watch:
                async for item in watch:
                    if _deletes(item, self.key, self.create_revision):
                        self._mark_lost("candidate key deleted")
                        return
        except StoreError as exc:
            self._mark_lost(f"watch failed: {exc}")

    def _mark_lost(self, reason: str) -> None:
        if self.lost or self._resigned:
            return
        self._lost_reason = reason
        self._lost.set()
        log.warning("election leadership lost", key=self.key, reason=reason)
        if self._on_lost is not None:
            try:
                self._on_lost(self)
            except Exception:
                log.exception("leadership lost callback failed", key=self.key)


def _deletes(item: WatchItem, key: bytes, create_revision: int) -> bool:
    """Whether ``item`` shows the candidate key created at ``create_revision`` gone."""
    if isinstance(item, Reset):
        return all(kv.key != key or kv.create_revision != create_revision for kv in item.kvs)
    assert isinstance(item, Event)
    return item.kv.key == key and item.type is EventType.DELETE and item.revision > create_revision
