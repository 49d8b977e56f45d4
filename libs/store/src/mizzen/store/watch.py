"""The resumable watch: one raw server watch at a time, re-opened after every loss.

Both store implementations provide a *raw* watch (:class:`WatchStream`, opened by a
:data:`WatchOpener`) that dies with its connection and reports compaction by raising
:class:`~mizzen.store.errors.Compacted`. :class:`Watch` turns it into a stream that never
loses or repeats an event:

* It remembers ``next_revision``: one past the last revision it delivered (or that the
  server reported as fully delivered). etcd sends all events of one revision in one
  response, so resuming at ``next_revision`` neither skips nor repeats any.
* On :class:`~mizzen.store.errors.StoreUnavailable` it waits (exponential backoff) and
  re-opens from ``next_revision``.
* Before re-opening at ``R`` it reads the prefix at ``R - 1`` with ``limit=1``: if that is
  compacted, the history from ``R`` may be incomplete (etcd drops deletions *at* the
  compaction revision from history yet still lets a watch start there), so it resets.
* On :class:`~mizzen.store.errors.Compacted` it lists the whole prefix at one revision
  ``L``, yields a :class:`~mizzen.store.model.Reset` carrying that listing and continues
  from ``L + 1``. A consumer that replaces its view with the listing has exactly the
  store's state at ``L``, and sees every later change once.

Remaining gap: a compaction to exactly ``R`` landing between that check and the server
reading its history can still hide deletions at ``R`` (etcd's own behaviour). Compacting
well behind the head revision, as :mod:`mizzen` does, makes this practically impossible.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

import structlog

from mizzen.store.errors import Compacted, InvalidRequest, StoreClosed, StoreUnavailable
from mizzen.store.model import (
    Event,
    EventType,
    KeyValue,
    RangeResult,
    Reset,
    WatchItem,
    prefix_range,
)

if TYPE_CHECKING:
    from mizzen.store.contract import Store

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class WatchBatch:
    """What one read of a raw watch gives.

    ``events`` are whole revisions, in order. ``progress_revision`` > 0 states that every
    event up to that revision has been delivered on this stream.
    """

    events: Sequence[Event]
    progress_revision: int = 0


class WatchStream(Protocol):
    """One raw server-side watch (internal seam between :class:`Watch` and a store)."""

    async def read(self) -> WatchBatch:
        """The next batch; raises StoreUnavailable on loss, Compacted, StoreClosed."""
        ...

    def close(self) -> None:
        """Stop the raw watch; a pending :meth:`read` raises StoreClosed."""
        ...


WatchOpener = Callable[[bytes, bytes, int | None], Awaitable[tuple[WatchStream, int]]]
"""``opener(key, range_end, start_revision)`` → (stream, first revision it will report).

With ``start_revision=None`` the raw watch starts after the current revision."""


async def list_prefix(
    store: Store, prefix: bytes, *, page_size: int = 1000, keys_only: bool = False
) -> RangeResult:
    """The whole content of ``prefix`` at one revision, read in pages of ``page_size`` (only
    the keys with ``keys_only``).

    ``more`` is always false. A compaction overtaking the pages restarts the listing.
    """
    while True:
        first = await store.range(prefix, limit=page_size, keys_only=keys_only)
        kvs = list(first.kvs)
        more = first.more
        try:
            while more:
                page = await store.range(prefix, revision=first.revision, limit=page_size,
                                         after=kvs[-1].key, keys_only=keys_only)  # fmt: skip
                kvs.extend(page.kvs)
                more = page.more
        except Compacted:
            continue
        return RangeResult(tuple(kvs), first.revision, more=False)


def apply_to_view(view: dict[bytes, KeyValue], item: WatchItem) -> None:
    """Update ``view`` (key → current KeyValue of a watched prefix) with one watch item.

    The canonical consumer of a watch: a PUT sets the key, a DELETE removes it, a
    :class:`Reset` replaces the whole view. Applying every item a :class:`Watch` yields to a
    view that was empty (or listed at ``start_revision - 1``) keeps it equal to the store.
    """
    if isinstance(item, Reset):
        view.clear()
        view.update((kv.key, kv) for kv in item.kvs)
    elif item.type is EventType.PUT:
        view[item.kv.key] = item.kv
    else:
        view.pop(item.kv.key, None)


class Watch:
    """An async iterator of :class:`Event` and :class:`Reset` items under one prefix.

    See :meth:`mizzen.store.Store.watch` for the contract and this module's docstring for
    how it is kept. Iterate it from one task at a time. Close it with :meth:`aclose` (or
    ``async with``); closing from another task ends a pending ``__anext__`` with
    ``StopAsyncIteration``. Cancelling the iterating task is safe: the watch resumes from
    :attr:`next_revision` on the next ``__anext__``.
    """

    def __init__(
        self,
        store: Store,
        opener: WatchOpener,
        prefix: bytes,
        *,
        start_revision: int | None,
        retry_initial: float = 0.05,
        retry_max: float = 1.0,
        page_size: int = 1000,
    ) -> None:
        self._store = store
        self._opener = opener
        self._prefix = prefix
        self._key, self._range_end = prefix_range(prefix)
        self._next_revision = start_revision
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._page_size = page_size
        self._pending: deque[WatchItem] = deque()
        self._stream: WatchStream | None = None
        self._closed = False
        self._check_start = start_revision is not None
        self._reset_needed = False
        self._compact_revision: int | None = None

    @property
    def prefix(self) -> bytes:
        """The watched prefix."""
        return self._prefix

    @property
    def next_revision(self) -> int | None:
        """The revision the watch resumes from: nothing before it is left to deliver."""
        return self._next_revision

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> WatchItem:
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            await self._fill()
        return self._pending.popleft()

    async def aclose(self) -> None:
        """Stop watching; the iterator then ends. Idempotent."""
        self._closed = True
        self._drop_stream()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _fill(self) -> None:
        delay = self._retry_initial
        while not self._closed:
            try:
                if self._reset_needed:
                    await self._reset()
                    return
                if self._stream is None:
                    await self._open()
                if self._stream is None:
                    return  # closed while opening
                batch = await self._stream.read()
            except Compacted as exc:
                self._drop_stream()
                self._reset_needed = True
                self._compact_revision = exc.compact_revision
                log.info(
                    "watch compacted",
                    prefix=self._prefix,
                    next_revision=self._next_revision,
                    compact_revision=exc.compact_revision,
                )
                continue
            except StoreUnavailable as exc:
                self._drop_stream()
                log.warning(
                    "watch disconnected",
                    prefix=self._prefix,
                    next_revision=self._next_revision,
                    error=str(exc),
                    retry_in=delay,
                )
                await asyncio.sleep(delay)  # reconnect backoff, not synchronization
                delay = min(delay * 2, self._retry_max)
                continue
            except StoreClosed:
                self._drop_stream()
                if self._closed:
                    return
                raise
            except BaseException:
                # Cancelled or failed mid-read: the stream's position is unknown, so drop it
                # and resume from next_revision next time.
                self._drop_stream()
                raise
            if self._accept(batch):
                return

    async def _open(self) -> None:
        start = self._next_revision
        if self._check_start and start is not None and start > 1:
            # InvalidRequest: a future start revision; the server waits for it, nothing is lost.
            with contextlib.suppress(InvalidRequest):
                await self._store.range(self._prefix, revision=start - 1, limit=1)
        stream, first = await self._opener(self._key, self._range_end, start)
        if self._closed:  # aclose() ran while we were opening
            stream.close()
            return
        self._stream = stream
        self._check_start = True
        if self._next_revision is None:
            self._next_revision = first
        log.debug("watch opened", prefix=self._prefix, next_revision=self._next_revision)

    async def _reset(self) -> None:
        listing = await list_prefix(self._store, self._prefix, page_size=self._page_size)
        self._pending.append(Reset(listing.kvs, listing.revision, self._compact_revision))
        self._next_revision = listing.revision + 1
        self._reset_needed = False
        log.info(
            "watch reset",
            prefix=self._prefix,
            revision=listing.revision,
            keys=len(listing.kvs),
            compact_revision=self._compact_revision,
        )

    def _accept(self, batch: WatchBatch) -> bool:
        floor = self._next_revision or 0
        for event in batch.events:
            if event.revision >= floor:
                self._pending.append(event)
                self._next_revision = event.revision + 1
        if batch.progress_revision:
            self._next_revision = max(self._next_revision or 0, batch.progress_revision + 1)
        return bool(self._pending)

    def _drop_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
