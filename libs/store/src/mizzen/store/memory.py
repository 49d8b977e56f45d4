"""The :class:`~mizzen.store.Store` in process memory, with etcd's exact semantics.

Each :class:`MemoryStore` is one *client* of a :class:`MemoryServer`; several clients of one
server behave like several processes sharing one etcd (each has its own leases and
watches, and closing one is like that process dying). Use it in unit tests, in
single-process setups (``mizzen up --all-in-one`` builds one server and hands clients to
every service) and as the benchmark baseline.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import replace
from types import TracebackType
from typing import Self

from mizzen.store._memory_server import MemoryServer
from mizzen.store.contract import LostCallback
from mizzen.store.errors import (
    Compacted,
    Conflict,
    InvalidRequest,
    StoreClosed,
    StoreUnavailable,
)
from mizzen.store.lease import Lease
from mizzen.store.model import (
    DeleteResult,
    Key,
    KeyValue,
    LeaseArg,
    RangeResult,
    TxnResult,
    encode_key,
    encode_prefix,
    lease_id,
    prefix_range,
)
from mizzen.store.txn import Compare, DeleteOp, PutOp, Target, Txn, WriteOp
from mizzen.store.watch import Watch, WatchBatch


class MemoryStore:
    """The store contract in memory: a client of ``server`` (a new private one if omitted).

    ``call_timeout`` is the deadline of each call while the server is frozen (see
    :meth:`MemoryServer.freeze`); ``watch_retry_initial``/``watch_retry_max`` bound the
    re-watch backoff after :meth:`MemoryServer.kill`.
    """

    def __init__(
        self,
        server: MemoryServer | None = None,
        *,
        call_timeout: float = 5.0,
        watch_retry_initial: float = 0.01,
        watch_retry_max: float = 0.2,
    ) -> None:
        self._server = server if server is not None else MemoryServer()
        self._call_timeout = call_timeout
        self._watch_retry = (watch_retry_initial, watch_retry_max)
        self._closed = False
        self._leases: weakref.WeakSet[Lease] = weakref.WeakSet()
        self._streams: set[_MemoryWatchStream] = set()

    @property
    def server(self) -> MemoryServer:
        """The server this client talks to (for fault hooks and more clients)."""
        return self._server

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def get(self, key: Key) -> KeyValue | None:
        """See :meth:`mizzen.store.Store.get`."""
        raw = encode_key(key)
        await self._enter("get")
        return self._server.get(raw)

    async def range(
        self,
        prefix: Key,
        *,
        revision: int | None = None,
        limit: int | None = None,
        after: Key | None = None,
        keys_only: bool = False,
    ) -> RangeResult:
        """See :meth:`mizzen.store.Store.range`."""
        raw_prefix = encode_prefix(prefix)
        start, end = prefix_range(raw_prefix)
        if after is not None:
            raw_after = encode_key(after, what="'after' key")
            if not raw_after.startswith(raw_prefix):
                raise InvalidRequest(f"after={raw_after!r} is not under prefix {raw_prefix!r}")
            start = raw_after + b"\0"
        await self._enter("range")
        found = self._server.range(start, end, revision=revision, limit=limit)
        if keys_only:
            found = replace(found, kvs=tuple(replace(kv, value=b"") for kv in found.kvs))
        return found

    async def put(self, key: Key, value: bytes, *, lease: LeaseArg = None) -> int:
        """See :meth:`mizzen.store.Store.put`."""
        op = PutOp(encode_key(key), bytes(value), lease_id(lease))
        await self._enter("put")
        return self._server.txn((), (op,), ())[1]

    async def delete(self, key: Key) -> DeleteResult:
        """See :meth:`mizzen.store.Store.delete`."""
        return await self._delete("delete", DeleteOp(encode_key(key)))

    async def delete_prefix(self, prefix: Key) -> DeleteResult:
        """See :meth:`mizzen.store.Store.delete_prefix`."""
        return await self._delete("delete_prefix", DeleteOp(*prefix_range(encode_prefix(prefix))))

    async def put_if(
        self, key: Key, value: bytes, *, mod_revision: int, lease: LeaseArg = None
    ) -> int:
        """See :meth:`mizzen.store.Store.put_if`."""
        raw = encode_key(key)
        return await self._cas(
            "put_if", raw, mod_revision, PutOp(raw, bytes(value), lease_id(lease))
        )

    async def delete_if(self, key: Key, *, mod_revision: int) -> int:
        """See :meth:`mizzen.store.Store.delete_if`."""
        raw = encode_key(key)
        return await self._cas("delete_if", raw, mod_revision, DeleteOp(raw))

    async def commit(self, txn: Txn) -> TxnResult:
        """See :meth:`mizzen.store.Store.commit`."""
        await self._enter("commit")
        succeeded, revision, _ = self._server.txn(txn.compares, txn.then_ops, txn.else_ops)
        return TxnResult(succeeded, revision)

    def watch(self, prefix: Key, *, start_revision: int | None = None) -> Watch:
        """See :meth:`mizzen.store.Store.watch`."""
        initial, cap = self._watch_retry
        return Watch(
            self,
            self._open_watch,
            encode_prefix(prefix),
            start_revision=start_revision,
            retry_initial=initial,
            retry_max=cap,
        )

    async def grant(self, ttl: int, *, on_lost: LostCallback | None = None) -> Lease:
        """See :meth:`mizzen.store.Store.grant`."""
        if ttl <= 0:
            raise InvalidRequest(f"a lease TTL must be positive, not {ttl}")
        granted_at = time.monotonic()
        await self._enter("grant")
        lease_id_, granted = self._server.grant(ttl)
        lease = Lease(self, lease_id_, granted, granted_at=granted_at, on_lost=on_lost)
        self._leases.add(lease)
        lease.start()
        return lease

    async def compact(self, revision: int) -> None:
        """See :meth:`mizzen.store.Store.compact`."""
        await self._enter("compact")
        self._server.compact(revision)

    async def close(self) -> None:
        """See :meth:`mizzen.store.Store.close`."""
        if self._closed:
            return
        self._closed = True
        for lease in list(self._leases):
            await lease.abandon("store closed")
        for stream in list(self._streams):
            stream.close()
        self._server.notify()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # LeaseTransport

    async def keepalive_once(self, lease_id: int) -> int:
        """Refresh lease ``lease_id``; its TTL, 0 if the server no longer has it."""
        await self._enter("keepalive")
        return self._server.keepalive(lease_id)

    async def revoke_lease(self, lease_id: int) -> None:
        """Revoke lease ``lease_id``; LeaseExpired if the server no longer has it."""
        await self._enter("revoke")
        self._server.revoke(lease_id)

    # internals

    async def _enter(self, operation: str) -> None:
        if self._closed:
            raise StoreClosed(f"{operation}: the store client is closed")
        await self._server.gate(operation, self._call_timeout)
        if self._closed:
            raise StoreClosed(f"{operation}: the store client is closed")

    async def _delete(self, operation: str, op: DeleteOp) -> DeleteResult:
        await self._enter(operation)
        _, revision, deleted = self._server.txn((), (op,), ())
        return DeleteResult(deleted, revision)

    async def _cas(self, operation: str, key: bytes, mod_revision: int, op: WriteOp) -> int:
        await self._enter(operation)
        compare = Compare(key, Target.MOD_REVISION, "==", mod_revision)
        succeeded, revision, _ = self._server.txn((compare,), (op,), ())
        if not succeeded:
            raise Conflict(key, expected_mod_revision=mod_revision, current=self._server.get(key))
        return revision

    async def _open_watch(
        self, key: bytes, range_end: bytes, start_revision: int | None
    ) -> tuple[_MemoryWatchStream, int]:
        await self._enter("watch")
        server = self._server
        if start_revision is not None and start_revision < server.compact_revision:
            raise Compacted("watch: history compacted", compact_revision=server.compact_revision)
        first = start_revision or server.revision + 1
        stream = _MemoryWatchStream(self, key, range_end, first)
        self._streams.add(stream)
        return stream, first

    def _forget(self, stream: _MemoryWatchStream) -> None:
        self._streams.discard(stream)


class _MemoryWatchStream:
    """A raw watch on a :class:`MemoryServer`: breaks when the server is killed."""

    def __init__(self, client: MemoryStore, key: bytes, range_end: bytes, cursor: int) -> None:
        self._client = client
        self._server = client.server
        self._key = key
        self._range_end = range_end or key + b"\0"
        self._cursor = cursor
        self._generation = self._server.generation
        self._closed = False

    async def read(self) -> WatchBatch:
        server = self._server
        while True:
            if self._closed or self._client.closed:
                raise StoreClosed("watch: closed")
            if server.generation != self._generation or not server.up:
                raise StoreUnavailable("connection lost", operation="watch")
            changed = server.changed
            if not server.frozen:
                if self._cursor < server.compact_revision:
                    raise Compacted(
                        "watch: history compacted", compact_revision=server.compact_revision
                    )
                events = server.events_since(self._cursor, self._key, self._range_end)
                self._cursor = server.revision + 1
                if events:
                    return WatchBatch(events)
            await changed.wait()

    def close(self) -> None:
        self._closed = True
        self._client._forget(self)
        self._server.notify()


__all__ = ["MemoryServer", "MemoryStore"]
