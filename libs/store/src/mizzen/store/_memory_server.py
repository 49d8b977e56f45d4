"""The in-process "server" behind :class:`~mizzen.store.memory.MemoryStore` clients.

It reproduces etcd's MVCC model: one revision counter, every version of every key kept until
compaction, an event history for watches, and leases that expire on their own. Its
operations are synchronous and atomic (they run between two awaits of the event loop); the
clients add the asynchronous shell: the fault gate, deadlines and watch streams.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mizzen.store.errors import (
    Compacted,
    InvalidRequest,
    LeaseExpired,
    StoreTimeout,
    StoreUnavailable,
)
from mizzen.store.model import (
    Event,
    EventType,
    KeyValue,
    RangeResult,
    in_range,
)
from mizzen.store.txn import Compare, DeleteOp, PutOp, Target, WriteOp

_Version = tuple[int, KeyValue | None]  # (revision, the key then; None: deleted then)


def _revision_of(version: _Version) -> int:
    return version[0]


@dataclass(slots=True)
class _LeaseEntry:
    ttl: int
    deadline: float
    keys: set[bytes] = field(default_factory=set)
    timer: asyncio.TimerHandle | None = None


class MemoryServer:
    """An in-process etcd: shared by any number of :class:`MemoryStore` clients.

    Besides the store operations (used by clients only) it offers fault hooks so that the
    contract tests can treat it like a real etcd process:

    * :meth:`kill` / :meth:`start`: as ``kill -9`` and restart of etcd. While down, calls
      raise StoreUnavailable and open watches break; data and leases survive; on start
      every lease's TTL restarts in full (etcd renews leases when a leader takes over).
    * :meth:`freeze` / :meth:`thaw`: as SIGSTOP / SIGCONT. Calls wait and hit their
      deadline (StoreTimeout); watches deliver nothing; leases do not expire meanwhile,
      and those overdue expire as soon as it thaws.
    """

    def __init__(self) -> None:
        self._revision = 1
        self._compact_revision = 0
        self._versions: dict[bytes, list[_Version]] = {}
        self._keys: list[bytes] = []
        self._history_revisions: list[int] = []
        self._history: list[Event] = []
        self._leases: dict[int, _LeaseEntry] = {}
        self._lease_ids = itertools.count(0x6D656D0000000001)
        self._up = True
        self._frozen = False
        self._generation = 0
        self._changed = asyncio.Event()

    # state seen by clients

    @property
    def revision(self) -> int:
        """The current revision."""
        return self._revision

    @property
    def compact_revision(self) -> int:
        """The compaction point: history before it is gone (0: never compacted)."""
        return self._compact_revision

    @property
    def up(self) -> bool:
        """Whether the server runs (not killed)."""
        return self._up

    @property
    def frozen(self) -> bool:
        """Whether the server is frozen."""
        return self._frozen

    @property
    def generation(self) -> int:
        """Incremented by every :meth:`kill`: connections from before are broken."""
        return self._generation

    @property
    def changed(self) -> asyncio.Event:
        """An event set at the next change of anything (data, faults, clients closing)."""
        return self._changed

    def notify(self) -> None:
        """Wake everyone waiting on :attr:`changed`."""
        self._changed.set()
        self._changed = asyncio.Event()

    # fault hooks

    def kill(self) -> None:
        """Stop serving as if killed: calls fail, watches break; data and leases are kept."""
        self._up = False
        self._generation += 1
        for entry in self._leases.values():
            if entry.timer is not None:
                entry.timer.cancel()
                entry.timer = None
        self.notify()

    def start(self) -> None:
        """Serve again after :meth:`kill`; every lease gets its full TTL from now."""
        self._up = True
        now = time.monotonic()
        for lease_id, entry in self._leases.items():
            entry.deadline = now + entry.ttl
            self._schedule(lease_id, entry)
        self.notify()

    def freeze(self) -> None:
        """Stop answering without dropping connections, as a SIGSTOPped etcd."""
        self._frozen = True
        self.notify()

    def thaw(self) -> None:
        """Answer again after :meth:`freeze`; overdue leases expire now."""
        self._frozen = False
        for lease_id in list(self._leases):
            self._expire(lease_id)
        self.notify()

    async def gate(self, operation: str, timeout: float) -> None:
        """Pass a client call through the fault model (a scheduling point, like a network)."""
        deadline = time.monotonic() + timeout
        while True:
            if not self._up:
                raise StoreUnavailable("connection refused", operation=operation)
            if not self._frozen:
                await asyncio.sleep(0)  # yield to the loop as a network round trip would
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StoreTimeout(
                    f"no answer within {timeout}s", operation=operation, timeout=timeout
                )
            changed = self._changed
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                pass  # the loop re-checks and raises StoreTimeout

    # reads

    def get(self, key: bytes) -> KeyValue | None:
        """The current version of ``key``."""
        versions = self._versions.get(key)
        return versions[-1][1] if versions else None

    def range(
        self, start: bytes, end: bytes, *, revision: int | None, limit: int | None
    ) -> RangeResult:
        """Keys in ``[start, end)`` at ``revision`` (``None``: now), sorted by key."""
        at = self._check_read_revision(revision)
        kvs: list[KeyValue] = []
        more = False
        first = bisect_left(self._keys, start)
        for key in itertools.islice(self._keys, first, None):
            if not in_range(key, start, end):
                break
            kv = self._at(key, at)
            if kv is None:
                continue
            if limit and len(kvs) == limit:
                more = True
                break
            kvs.append(kv)
        return RangeResult(tuple(kvs), at, more)

    def events_since(self, revision: int, start: bytes, end: bytes) -> list[Event]:
        """History events in ``[start, end)`` from ``revision`` on, in order."""
        first = bisect_left(self._history_revisions, revision)
        return [
            event
            for event in itertools.islice(self._history, first, None)
            if in_range(event.kv.key, start, end)
        ]

    def _at(self, key: bytes, revision: int) -> KeyValue | None:
        versions = self._versions[key]
        if revision >= self._revision:
            return versions[-1][1]
        index = bisect_right(versions, revision, key=_revision_of)
        return versions[index - 1][1] if index else None

    def _check_read_revision(self, revision: int | None) -> int:
        if not revision:
            return self._revision
        if revision > self._revision:
            raise InvalidRequest(f"range: revision {revision} is a future revision")
        if revision < self._compact_revision:
            raise Compacted(
                f"range: revision {revision} has been compacted",
                compact_revision=self._compact_revision,
            )
        return revision

    # writes

    def txn(
        self, compares: Sequence[Compare], then_ops: Sequence[WriteOp], else_ops: Sequence[WriteOp]
    ) -> tuple[bool, int, int]:
        """Evaluate ``compares``, apply one branch atomically: (succeeded, revision, changes)."""
        succeeded = all(self._holds(compare) for compare in compares)
        ops = then_ops if succeeded else else_ops
        self._validate(ops)
        revision, changes = self._apply(ops)
        return succeeded, revision, changes

    def _holds(self, compare: Compare) -> bool:
        kv = self.get(compare.key)
        if compare.target is Target.VALUE:
            # etcd: a value compare on a missing key is false whatever the operator.
            return kv is not None and compare.holds(kv.value)
        if compare.target is Target.VERSION:
            return compare.holds(kv.version if kv else 0)
        if compare.target is Target.CREATE_REVISION:
            return compare.holds(kv.create_revision if kv else 0)
        return compare.holds(kv.mod_revision if kv else 0)

    def _validate(self, ops: Sequence[WriteOp]) -> None:
        puts = [op.key for op in ops if isinstance(op, PutOp)]
        if len(set(puts)) != len(puts):
            raise InvalidRequest("commit: duplicate key given in txn request")
        for op in ops:
            if isinstance(op, DeleteOp) and any(
                key == op.key or (op.range_end and in_range(key, op.key, op.range_end))
                for key in puts
            ):
                raise InvalidRequest("commit: duplicate key given in txn request")
            if isinstance(op, PutOp) and op.lease and op.lease not in self._leases:
                raise LeaseExpired("put: requested lease not found", lease_id=op.lease)

    def _apply(self, ops: Iterable[WriteOp]) -> tuple[int, int]:
        revision = self._revision + 1
        events: list[Event] = []
        for op in ops:
            if isinstance(op, PutOp):
                events.append(self._put(op, revision))
            else:
                for key in self._live_keys(op.key, op.range_end):
                    events.append(self._delete(key, revision))
        if events:
            self._revision = revision
            self._history.extend(events)
            self._history_revisions.extend(revision for _ in events)
            self.notify()
        return self._revision, len(events)

    def _put(self, op: PutOp, revision: int) -> Event:
        prev = self.get(op.key)
        kv = KeyValue(
            key=op.key,
            value=op.value,
            create_revision=prev.create_revision if prev else revision,
            mod_revision=revision,
            version=prev.version + 1 if prev else 1,
            lease=op.lease,
        )
        if prev is not None and prev.lease and prev.lease in self._leases:
            self._leases[prev.lease].keys.discard(op.key)
        if op.lease:
            self._leases[op.lease].keys.add(op.key)
        self._record(op.key, revision, kv)
        return Event(EventType.PUT, kv, prev)

    def _delete(self, key: bytes, revision: int) -> Event:
        prev = self.get(key)
        assert prev is not None  # only live keys are deleted
        if prev.lease and prev.lease in self._leases:
            self._leases[prev.lease].keys.discard(key)
        self._record(key, revision, None)
        return Event(EventType.DELETE, KeyValue(key, b"", 0, revision, 0, 0), prev)

    def _record(self, key: bytes, revision: int, kv: KeyValue | None) -> None:
        versions = self._versions.get(key)
        if versions is None:
            self._versions[key] = versions = []
            insort(self._keys, key)
        versions.append((revision, kv))

    def _live_keys(self, start: bytes, end: bytes) -> list[bytes]:
        if not end:
            return [start] if self.get(start) is not None else []
        first = bisect_left(self._keys, start)
        live = []
        for key in itertools.islice(self._keys, first, None):
            if not in_range(key, start, end):
                break
            if self.get(key) is not None:
                live.append(key)
        return live

    def compact(self, revision: int) -> None:
        """Forget history before ``revision`` as etcd does (also deletions *at* it)."""
        if revision <= self._compact_revision:
            raise Compacted(
                f"compact: revision {revision} has been compacted",
                compact_revision=self._compact_revision,
            )
        if revision > self._revision:
            raise InvalidRequest(f"compact: revision {revision} is a future revision")
        self._compact_revision = revision
        first = bisect_left(self._history_revisions, revision)
        last = bisect_right(self._history_revisions, revision)
        kept = [e for e in self._history[first:last] if e.type is EventType.PUT]
        self._history = kept + self._history[last:]
        self._history_revisions = [revision] * len(kept) + self._history_revisions[last:]
        for key in list(self._keys):
            versions = self._versions[key]
            index = bisect_right(versions, revision, key=_revision_of)
            if index == 0:
                continue
            # Keep the newest version at or before the compaction point, unless a deletion.
            keep_from = index - 1 if versions[index - 1][1] is not None else index
            del versions[:keep_from]
            if not versions:
                del self._versions[key]
                self._keys.remove(key)

    # leases

    def grant(self, ttl: int) -> tuple[int, int]:
        """A new lease: (id, ttl)."""
        lease_id = next(self._lease_ids)
        entry = _LeaseEntry(ttl=ttl, deadline=time.monotonic() + ttl)
        self._leases[lease_id] = entry
        self._schedule(lease_id, entry)
        return lease_id, ttl

    def keepalive(self, lease_id: int) -> int:
        """Renew a lease: its TTL, or 0 if it does not exist."""
        entry = self._leases.get(lease_id)
        if entry is None:
            return 0
        entry.deadline = time.monotonic() + entry.ttl
        return entry.ttl

    def revoke(self, lease_id: int) -> None:
        """Revoke a lease, deleting its keys at one revision."""
        entry = self._leases.pop(lease_id, None)
        if entry is None:
            raise LeaseExpired("revoke: requested lease not found", lease_id=lease_id)
        if entry.timer is not None:
            entry.timer.cancel()
        self._apply([DeleteOp(key) for key in sorted(entry.keys)])

    def _schedule(self, lease_id: int, entry: _LeaseEntry) -> None:
        if entry.timer is not None:
            entry.timer.cancel()
        loop = asyncio.get_running_loop()
        delay = entry.deadline - time.monotonic()
        entry.timer = loop.call_later(max(delay, 0.0), self._expire, lease_id)

    def _expire(self, lease_id: int) -> None:
        entry = self._leases.get(lease_id)
        if entry is None or not self._up or self._frozen:
            return  # start() and thaw() re-arm or re-check
        if time.monotonic() < entry.deadline:
            self._schedule(lease_id, entry)
            return
        self.revoke(lease_id)
