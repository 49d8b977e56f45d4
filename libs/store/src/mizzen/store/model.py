"""The values a store hands out: key-values, range results, watch items, write results.

Keys: every method accepts ``str`` (encoded as UTF-8) or ``bytes``; everything returned holds
``bytes``. Values are always ``bytes``. An empty key is invalid; an empty *prefix* means the
whole keyspace. All these types are immutable and safe to share between tasks.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from mizzen.store.errors import InvalidRequest

Key = str | bytes
"""A key as callers may pass it: ``str`` is encoded as UTF-8."""


class HasLeaseId(Protocol):
    """Anything carrying a lease id (a :class:`~mizzen.store.Lease`)."""

    @property
    def id(self) -> int:
        """The lease id as the store knows it."""
        ...


LeaseArg = HasLeaseId | int | None
"""A lease as callers may pass it to ``put``: a Lease, its id, or ``None`` for no lease."""


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key at one revision, with etcd's bookkeeping.

    ``create_revision``: the revision that created the key (since its last deletion).
    ``mod_revision``: the revision of its last change. ``version``: how many times it was
    written since creation (1 after the first put; 0 in a DELETE event). ``lease``: the id of
    the lease the key is attached to, 0 for none.
    """

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0


@dataclass(frozen=True, slots=True)
class RangeResult:
    """Keys under a prefix, sorted by key, as of ``revision``.

    ``more`` is true when ``limit`` cut the result short; continue with ``after=kvs[-1].key``
    and ``revision=`` this revision to page through one consistent snapshot.
    """

    kvs: tuple[KeyValue, ...]
    revision: int
    more: bool


class EventType(enum.Enum):
    """What happened to a key."""

    PUT = "put"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Event:
    """A change to one key, at revision ``kv.mod_revision``.

    For PUT, ``kv`` is the key as written. For DELETE, ``kv`` carries the key and the
    deletion's revision as ``mod_revision``; its other fields are empty. ``prev_kv`` is the key
    before the change when the store still has it (``None`` for a creation, and possibly
    ``None`` when the previous version was compacted). Events of one transaction share a
    revision and arrive in the transaction's order.
    """

    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None = None

    @property
    def revision(self) -> int:
        """The revision at which this change happened."""
        return self.kv.mod_revision


@dataclass(frozen=True, slots=True)
class Reset:
    """The watch could not resume (history compacted): here is the whole prefix instead.

    ``kvs`` is the complete content of the watched prefix at ``revision``, sorted by key. A
    consumer must *replace* its view of the prefix with it (keys it holds that are absent
    here were deleted meanwhile); the events that follow start at ``revision + 1``.
    ``compact_revision`` is the compaction point that forced the reset, when known.
    """

    kvs: tuple[KeyValue, ...]
    revision: int
    compact_revision: int | None = None


WatchItem = Event | Reset
"""What a watch yields."""


@dataclass(frozen=True, slots=True)
class DeleteResult:
    """``deleted`` keys were removed; ``revision`` is the store's revision after the call."""

    deleted: int
    revision: int


@dataclass(frozen=True, slots=True)
class TxnResult:
    """Whether the compares held (the ``then`` branch ran) and the revision after the txn."""

    succeeded: bool
    revision: int


def encode_key(key: Key, *, what: str = "key") -> bytes:
    """Return ``key`` as bytes; raise :class:`InvalidRequest` for an empty key."""
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if not raw:
        raise InvalidRequest(f"an empty {what} is not allowed")
    return raw


def encode_prefix(prefix: Key) -> bytes:
    """Return ``prefix`` as bytes; empty means the whole keyspace."""
    return prefix.encode("utf-8") if isinstance(prefix, str) else bytes(prefix)


def prefix_range(prefix: bytes) -> tuple[bytes, bytes]:
    """etcd's ``[key, range_end)`` for every key starting with ``prefix``.

    ``range_end == b"\\0"`` means "to the end of the keyspace" (etcd's convention), used for
    the empty prefix and for prefixes made only of ``0xff`` bytes.
    """
    if not prefix:
        return b"\0", b"\0"
    end = bytearray(prefix)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return prefix, b"\0"
    end[-1] += 1
    return prefix, bytes(end)


def in_range(key: bytes, start: bytes, end: bytes) -> bool:
    """Whether ``key`` lies in etcd's ``[start, end)`` (``end == b"\\0"``: unbounded)."""
    return key >= start and (end == b"\0" or key < end)


def lease_id(lease: LeaseArg) -> int:
    """The id of ``lease`` (0 for ``None``)."""
    if lease is None:
        return 0
    if isinstance(lease, int):
        return lease
    return lease.id
