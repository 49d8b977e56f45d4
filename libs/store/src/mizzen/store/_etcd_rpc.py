"""etcd's wire types (aetcd's generated protobuf classes) ↔ this package's types.

The one place where gRPC and aetcd errors become :mod:`mizzen.store.errors`
(:func:`map_error`), and where requests and responses are converted.

We use aetcd's generated ``rpc`` module (stubs and messages) directly rather than its
``Client`` methods: those cannot range at a revision or with a limit, put deadlines only
per client, share one watch stream for all watches and hide the watch's compaction
response, all of which the contract needs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from aetcd import rpc

from mizzen.store.errors import (
    Compacted,
    InvalidRequest,
    LeaseExpired,
    StoreClosed,
    StoreError,
    StoreTimeout,
    StoreUnavailable,
)
from mizzen.store.model import Event, EventType, KeyValue
from mizzen.store.txn import Compare, DeleteOp, PutOp, Target, Txn, WriteOp

# etcd's server error texts (etcdserver/api/v3rpc/rpctypes): stable API strings, the only
# way etcd distinguishes these cases that share a status code.
_COMPACTED = "required revision has been compacted"
_FUTURE_REV = "required revision is a future revision"
_LEASE_NOT_FOUND = "requested lease not found"

_OPS = {
    "==": rpc.Compare.EQUAL,
    "!=": rpc.Compare.NOT_EQUAL,
    "<": rpc.Compare.LESS,
    ">": rpc.Compare.GREATER,
}


def map_error(  # noqa: PLR0911 -- one flat list of cases reads best for an error table
    exc: BaseException, *, operation: str, timeout: float | None, closed: bool
) -> StoreError:
    """Translate an exception from a gRPC call to etcd into a :class:`StoreError`.

    ``closed`` says whether our own client was closed (a cancelled call then means
    :class:`StoreClosed`, not a lost connection).
    """
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, grpc.aio.UsageError) or (closed and _is_cancelled(exc)):
        return StoreClosed(f"{operation}: the store client is closed")
    if isinstance(exc, TimeoutError):
        return StoreTimeout(f"no answer within {timeout}s", operation=operation, timeout=timeout)
    if not isinstance(exc, grpc.aio.AioRpcError):
        return StoreError(f"{operation}: {exc!r}")
    code, details = exc.code(), exc.details() or ""
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return StoreTimeout(f"no answer within {timeout}s", operation=operation, timeout=timeout)
    if code in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    ):
        return StoreUnavailable(details, operation=operation)
    if code == grpc.StatusCode.OUT_OF_RANGE and _COMPACTED in details:
        return Compacted(f"{operation}: {details}")
    if code == grpc.StatusCode.NOT_FOUND and _LEASE_NOT_FOUND in details:
        return LeaseExpired(f"{operation}: {details}")
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.OUT_OF_RANGE):
        return InvalidRequest(f"{operation}: {details}")
    if code == grpc.StatusCode.UNKNOWN and "leader" in details:
        # "etcdserver: leader changed" and friends during an election: transient.
        return StoreUnavailable(details, operation=operation)
    return StoreError(f"{operation}: {code.name}: {details}")


def _is_cancelled(exc: BaseException) -> bool:
    if isinstance(exc, asyncio.CancelledError):
        return True
    return isinstance(exc, grpc.aio.AioRpcError) and exc.code() == grpc.StatusCode.CANCELLED


def channel_options(
    *,
    keepalive_time: float,
    keepalive_timeout: float,
    reconnect_backoff_initial: float,
    reconnect_backoff_max: float,
) -> list[tuple[str, Any]]:
    """gRPC channel options: keepalive pings so a frozen etcd is noticed, quick reconnects."""
    return [
        # Ping while calls (watch streams) are open; a ping unanswered within the timeout
        # closes the transport, failing the calls with UNAVAILABLE. etcd refuses pings more
        # frequent than its --grpc-keepalive-min-time (5 s) and pings without calls.
        ("grpc.keepalive_time_ms", int(keepalive_time * 1000)),
        ("grpc.keepalive_timeout_ms", int(keepalive_timeout * 1000)),
        ("grpc.http2.ping_timeout_ms", int(keepalive_timeout * 1000)),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.initial_reconnect_backoff_ms", int(reconnect_backoff_initial * 1000)),
        ("grpc.min_reconnect_backoff_ms", int(reconnect_backoff_initial * 1000)),
        ("grpc.max_reconnect_backoff_ms", int(reconnect_backoff_max * 1000)),
    ]


def to_kv(message: Any) -> KeyValue:
    """A ``mvccpb.KeyValue`` message as a :class:`KeyValue`."""
    return KeyValue(
        key=message.key,
        value=message.value,
        create_revision=message.create_revision,
        mod_revision=message.mod_revision,
        version=message.version,
        lease=message.lease,
    )


def to_event(message: Any) -> Event:
    """A ``mvccpb.Event`` message as an :class:`Event`."""
    kind = EventType.PUT if message.type == rpc.Event.PUT else EventType.DELETE
    prev = to_kv(message.prev_kv) if message.HasField("prev_kv") else None
    if prev is not None and prev.mod_revision == 0:
        prev = None
    return Event(kind, to_kv(message.kv), prev)


def range_request(
    key: bytes,
    range_end: bytes = b"",
    *,
    revision: int | None = None,
    limit: int | None = None,
    keys_only: bool = False,
) -> Any:
    """A ``RangeRequest`` (sorted by key, etcd's default)."""
    return rpc.RangeRequest(
        key=key, range_end=range_end, revision=revision or 0, limit=limit or 0, keys_only=keys_only
    )


def txn_request(txn: Txn) -> Any:
    """A ``TxnRequest`` for a :class:`Txn`."""
    return rpc.TxnRequest(
        compare=[_compare(c) for c in txn.compares],
        success=[_op(op) for op in txn.then_ops],
        failure=[_op(op) for op in txn.else_ops],
    )


def cas_request(key: bytes, mod_revision: int, op: WriteOp) -> Any:
    """A ``TxnRequest``: if ``key``'s mod_revision is ``mod_revision`` then ``op`` else read it."""
    return rpc.TxnRequest(
        compare=[_compare(Compare(key, Target.MOD_REVISION, "==", mod_revision))],
        success=[_op(op)],
        failure=[rpc.RequestOp(request_range=range_request(key))],
    )


def txn_failure_kv(response: Any) -> KeyValue | None:
    """The key read by the failure branch of a :func:`cas_request`."""
    for item in response.responses:
        if item.WhichOneof("response") == "response_range" and item.response_range.kvs:
            return to_kv(item.response_range.kvs[0])
    return None


def _compare(compare: Compare) -> Any:
    message = rpc.Compare(key=compare.key, result=_OPS[compare.op])
    if compare.target is Target.VALUE:
        message.target = rpc.Compare.VALUE
        message.value = compare.operand
    elif compare.target is Target.VERSION:
        message.target = rpc.Compare.VERSION
        message.version = compare.operand
    elif compare.target is Target.CREATE_REVISION:
        message.target = rpc.Compare.CREATE
        message.create_revision = compare.operand
    else:
        message.target = rpc.Compare.MOD
        message.mod_revision = compare.operand
    return message


def _op(op: WriteOp) -> Any:
    if isinstance(op, PutOp):
        return rpc.RequestOp(request_put=rpc.PutRequest(key=op.key, value=op.value, lease=op.lease))
    assert isinstance(op, DeleteOp)
    return rpc.RequestOp(
        request_delete_range=rpc.DeleteRangeRequest(key=op.key, range_end=op.range_end)
    )
