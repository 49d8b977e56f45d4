"""The :class:`~mizzen.store.Store` on etcd v3, over aetcd's gRPC bindings."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import grpc
import structlog
from aetcd import rpc

from mizzen.store import _etcd_rpc as wire
from mizzen.store.contract import LostCallback
from mizzen.store.errors import (
    Compacted,
    Conflict,
    InvalidRequest,
    StoreClosed,
    StoreError,
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
from mizzen.store.txn import DeleteOp, PutOp, Txn, WriteOp
from mizzen.store.watch import Watch, WatchBatch

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class EtcdSettings:
    """How an :class:`EtcdStore` talks to etcd. All durations are in seconds."""

    call_timeout: float = 5.0
    """Deadline of every call to etcd (and of opening a watch); then StoreTimeout."""

    keepalive_time: float = 10.0
    """Interval of gRPC keepalive pings while a call is open; at least etcd's
    ``--grpc-keepalive-min-time`` (5 s by default) or etcd drops the connection."""

    keepalive_timeout: float = 5.0
    """How long a ping may go unanswered before the connection counts as dead, so a frozen
    or unreachable etcd fails open watches after ``keepalive_time + keepalive_timeout``."""

    reconnect_backoff_initial: float = 0.1
    """First delay of gRPC's reconnection backoff after the connection fails."""

    reconnect_backoff_max: float = 2.0
    """Cap of gRPC's reconnection backoff: a restarted etcd is found within this."""

    watch_retry_initial: float = 0.05
    """First delay before a lost watch is re-opened (doubles up to ``watch_retry_max``)."""

    watch_retry_max: float = 1.0
    """Cap of the watch re-open backoff."""


class EtcdStore:
    """The store contract (:class:`~mizzen.store.Store`) on an etcd v3 cluster.

    Open it with :meth:`connect` (or :func:`~mizzen.store.open_store`). The connection is made
    lazily and re-made by gRPC after failures; calls made while etcd is unreachable raise
    :class:`~mizzen.store.errors.StoreUnavailable` quickly. Use it from the event loop that
    opened it.
    """

    def __init__(self, target: str, settings: EtcdSettings | None = None) -> None:
        """Open a channel to the gRPC ``target``; prefer :meth:`connect`. Needs a running loop."""
        self._settings = settings or EtcdSettings()
        s = self._settings
        self._target = target
        self._channel = grpc.aio.insecure_channel(
            target,
            options=wire.channel_options(
                keepalive_time=s.keepalive_time,
                keepalive_timeout=s.keepalive_timeout,
                reconnect_backoff_initial=s.reconnect_backoff_initial,
                reconnect_backoff_max=s.reconnect_backoff_max,
            ),
        )
        self._kv = rpc.KVStub(self._channel)
        self._watch = rpc.WatchStub(self._channel)
        self._lease = rpc.LeaseStub(self._channel)
        self._closed = False
        self._leases: weakref.WeakSet[Lease] = weakref.WeakSet()
        self._streams: set[_EtcdWatchStream] = set()

    @classmethod
    async def connect(
        cls, endpoints: Sequence[str], settings: EtcdSettings | None = None
    ) -> EtcdStore:
        """A store on the etcd members at ``endpoints`` (``"host:port"`` each).

        Several endpoints are resolved now and used with gRPC's pick-first policy: the
        client fails over to the next member when its member goes away.
        """
        return cls(await _target(endpoints), settings)

    @property
    def settings(self) -> EtcdSettings:
        """The settings this store was opened with."""
        return self._settings

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    async def get(self, key: Key) -> KeyValue | None:
        """See :meth:`mizzen.store.Store.get`."""
        response = await self._call("get", self._kv.Range, wire.range_request(encode_key(key)))
        return wire.to_kv(response.kvs[0]) if response.kvs else None

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
        start, end = _range_bounds(prefix, after)
        response = await self._call(
            "range",
            self._kv.Range,
            wire.range_request(start, end, revision=revision, limit=limit, keys_only=keys_only),
        )
        # etcd's header carries the current revision; the contract promises the one read.
        return RangeResult(
            tuple(wire.to_kv(kv) for kv in response.kvs),
            revision or response.header.revision,
            response.more,
        )

    async def put(self, key: Key, value: bytes, *, lease: LeaseArg = None) -> int:
        """See :meth:`mizzen.store.Store.put`."""
        request = rpc.PutRequest(key=encode_key(key), value=bytes(value), lease=lease_id(lease))
        response = await self._call("put", self._kv.Put, request)
        return int(response.header.revision)

    async def delete(self, key: Key) -> DeleteResult:
        """See :meth:`mizzen.store.Store.delete`."""
        request = rpc.DeleteRangeRequest(key=encode_key(key))
        response = await self._call("delete", self._kv.DeleteRange, request)
        return DeleteResult(response.deleted, response.header.revision)

    async def delete_prefix(self, prefix: Key) -> DeleteResult:
        """See :meth:`mizzen.store.Store.delete_prefix`."""
        start, end = prefix_range(encode_prefix(prefix))
        request = rpc.DeleteRangeRequest(key=start, range_end=end)
        response = await self._call("delete_prefix", self._kv.DeleteRange, request)
        return DeleteResult(response.deleted, response.header.revision)

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
        response = await self._call("commit", self._kv.Txn, wire.txn_request(txn))
        return TxnResult(bool(response.succeeded), response.header.revision)

    def watch(self, prefix: Key, *, start_revision: int | None = None) -> Watch:
        """See :meth:`mizzen.store.Store.watch`."""
        return Watch(
            self,
            self._open_watch,
            encode_prefix(prefix),
            start_revision=start_revision,
            retry_initial=self._settings.watch_retry_initial,
            retry_max=self._settings.watch_retry_max,
        )

    async def grant(self, ttl: int, *, on_lost: LostCallback | None = None) -> Lease:
        """See :meth:`mizzen.store.Store.grant`."""
        if ttl <= 0:
            raise InvalidRequest(f"a lease TTL must be positive, not {ttl}")
        granted_at = time.monotonic()
        response = await self._call("grant", self._lease.LeaseGrant, rpc.LeaseGrantRequest(TTL=ttl))
        if response.error:
            raise StoreError(f"grant: {response.error}")
        lease = Lease(self, response.ID, response.TTL, granted_at=granted_at, on_lost=on_lost)
        self._leases.add(lease)
        lease.start()
        return lease

    async def compact(self, revision: int) -> None:
        """See :meth:`mizzen.store.Store.compact`."""
        request = rpc.CompactionRequest(revision=revision)
        await self._call("compact", self._kv.Compact, request)

    async def close(self) -> None:
        """See :meth:`mizzen.store.Store.close`."""
        if self._closed:
            return
        self._closed = True
        for lease in list(self._leases):
            await lease.abandon("store closed")
        for stream in list(self._streams):
            stream.close()
        await self._channel.close()

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
        """Refresh lease ``lease_id`` once; its new TTL, 0 if etcd no longer has it."""
        self._check_open("keepalive")
        timeout = self._settings.call_timeout
        call = self._lease.LeaseKeepAlive(timeout=timeout)
        try:
            await call.write(rpc.LeaseKeepAliveRequest(ID=lease_id))
            reply = await call.read()
        except (grpc.aio.AioRpcError, grpc.aio.UsageError) as exc:
            raise self._map(exc, "keepalive") from exc
        finally:
            call.cancel()
        if reply is grpc.aio.EOF:
            raise StoreUnavailable("stream ended", operation="keepalive")
        return int(reply.TTL)

    async def revoke_lease(self, lease_id: int) -> None:
        """Revoke lease ``lease_id``; LeaseExpired if etcd no longer has it."""
        await self._call("revoke", self._lease.LeaseRevoke, rpc.LeaseRevokeRequest(ID=lease_id))

    # internals

    def _check_open(self, operation: str) -> None:
        if self._closed:
            raise StoreClosed(f"{operation}: the store client is closed")

    def _map(self, exc: BaseException, operation: str) -> StoreError:
        return wire.map_error(
            exc, operation=operation, timeout=self._settings.call_timeout, closed=self._closed
        )

    async def _call(self, operation: str, method: Any, request: Any) -> Any:
        self._check_open(operation)
        try:
            return await method(request, timeout=self._settings.call_timeout)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError) as exc:
            raise self._map(exc, operation) from exc

    async def _cas(self, operation: str, key: bytes, mod_revision: int, op: WriteOp) -> int:
        request = wire.cas_request(key, mod_revision, op)
        response = await self._call(operation, self._kv.Txn, request)
        if not response.succeeded:
            raise Conflict(
                key, expected_mod_revision=mod_revision, current=wire.txn_failure_kv(response)
            )
        return int(response.header.revision)

    async def _open_watch(
        self, key: bytes, range_end: bytes, start_revision: int | None
    ) -> tuple[_EtcdWatchStream, int]:
        self._check_open("watch")
        call = self._watch.Watch()
        create = rpc.WatchCreateRequest(
            key=key,
            range_end=range_end,
            start_revision=start_revision or 0,
            prev_kv=True,
            progress_notify=True,
        )
        try:
            async with asyncio.timeout(self._settings.call_timeout):
                await call.write(rpc.WatchRequest(create_request=create))
                response = await call.read()
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, TimeoutError) as exc:
            call.cancel()
            raise self._map(exc, "watch") from exc
        except BaseException:
            call.cancel()
            raise
        if response is grpc.aio.EOF:
            call.cancel()
            raise StoreUnavailable("stream ended while creating the watch", operation="watch")
        if response.compact_revision:
            call.cancel()
            raise Compacted("watch: history compacted", compact_revision=response.compact_revision)
        if response.canceled or not response.created:
            call.cancel()
            raise StoreError(f"watch: not created: {response.cancel_reason or response}")
        stream = _EtcdWatchStream(self, call)
        self._streams.add(stream)
        return stream, start_revision or response.header.revision + 1

    def _forget(self, stream: _EtcdWatchStream) -> None:
        self._streams.discard(stream)


class _EtcdWatchStream:
    """One etcd watch on its own gRPC stream (so that losing it affects only this watch)."""

    def __init__(self, store: EtcdStore, call: Any) -> None:
        self._store = store
        self._call = call
        self._closed = False

    async def read(self) -> WatchBatch:
        while True:
            try:
                response = await self._call.read()
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if self._closed and (task is None or task.cancelling() == 0):
                    raise StoreClosed("watch: closed") from None
                raise
            except (grpc.aio.AioRpcError, grpc.aio.UsageError) as exc:
                if self._closed:
                    raise StoreClosed("watch: closed") from exc
                raise self._store._map(exc, "watch") from exc
            if response is grpc.aio.EOF:
                if self._closed or self._store.closed:
                    raise StoreClosed("watch: closed")
                raise StoreUnavailable("the server ended the watch stream", operation="watch")
            if response.compact_revision:
                raise Compacted(
                    "watch: history compacted", compact_revision=response.compact_revision
                )
            if response.canceled:
                raise StoreError(f"watch: canceled by etcd: {response.cancel_reason}")
            if response.events:
                return WatchBatch([wire.to_event(event) for event in response.events])
            if not response.created:
                return WatchBatch((), progress_revision=response.header.revision)

    def close(self) -> None:
        self._closed = True
        self._call.cancel()
        self._store._forget(self)


def _range_bounds(prefix: Key, after: Key | None) -> tuple[bytes, bytes]:
    raw_prefix = encode_prefix(prefix)
    start, end = prefix_range(raw_prefix)
    if after is not None:
        raw_after = encode_key(after, what="'after' key")
        if not raw_after.startswith(raw_prefix):
            raise InvalidRequest(f"after={raw_after!r} is not under prefix {raw_prefix!r}")
        start = raw_after + b"\0"
    return start, end


async def _target(endpoints: Sequence[str]) -> str:
    """A gRPC target for ``host:port`` endpoints (several: resolved to an address list)."""
    if not endpoints:
        raise InvalidRequest("no etcd endpoint given")
    if len(endpoints) == 1:
        return endpoints[0]
    loop = asyncio.get_running_loop()
    v4: list[str] = []
    v6: list[str] = []
    for endpoint in endpoints:
        host, _, port = endpoint.rpartition(":")
        host = host.strip("[]")
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = await loop.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
            except OSError as exc:
                raise StoreUnavailable(
                    f"cannot resolve {host!r}: {exc}", operation="connect"
                ) from exc
            addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        for address in addresses:
            if address.version == 4:
                v4.append(f"{address}:{port}")
            else:
                v6.append(f"[{address}]:{port}")
    # gRPC's static address targets take one family; prefer IPv4 when both are present.
    return "ipv4:" + ",".join(v4) if v4 else "ipv6:" + ",".join(v6)


__all__ = ["EtcdSettings", "EtcdStore"]
