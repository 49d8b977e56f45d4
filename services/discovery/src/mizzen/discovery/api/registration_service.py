"""The gRPC RegistrationService (contract: proto/mizzen/registry/v1/registration.proto)."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from mizzen.discovery.api import convert
from mizzen.discovery.api.errors import HANDLED, abort_for
from mizzen.discovery.domain.errors import OutOfOrder
from mizzen.discovery.domain.listing import list_services, list_workloads
from mizzen.discovery.domain.workload import validate_workload
from mizzen.discovery.registrar import Registrar, Registration
from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.protos.registry.v1 import registration_pb2_grpc as pb_grpc
from mizzen.registry import DEFAULT_DOMAIN, Registry, RegistryView
from mizzen.store import Store


class _End(enum.Enum):
    """Why no next request came."""

    CLOSED = "stream_closed"
    SILENT = "heartbeat_missed"
    LOST = "lease_lost"
    STOPPING = "replica_stopping"


class _Requests:
    """Reads a stream's requests with a deadline, while watching for other reasons to end.

    Owned by one RPC; :meth:`close` cancels whatever it still waits on.
    """

    def __init__(self, requests: AsyncIterator[pb.RegisterRequest]) -> None:
        self._requests = requests
        self._signals: dict[asyncio.Future[Any], _End] = {}
        self._read: asyncio.Future[pb.RegisterRequest] | None = None

    def end_when(self, awaitable: Awaitable[Any], end: _End) -> None:
        """Make :meth:`next` return ``end`` once ``awaitable`` completes."""
        self._signals[asyncio.ensure_future(awaitable)] = end

    async def next(self, timeout: float) -> pb.RegisterRequest | _End:
        """The next request; or why there is none: closed, ``timeout`` passed, a signal."""
        if self._read is None:
            self._read = asyncio.ensure_future(anext(self._requests))
        done, _ = await asyncio.wait(
            {self._read, *self._signals}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if self._read in done:
            read, self._read = self._read, None
            try:
                return read.result()
            except StopAsyncIteration:
                return _End.CLOSED
        for signal, end in self._signals.items():
            if signal in done:
                return end
        return _End.SILENT

    async def close(self) -> None:
        """Cancel the pending read and signal waits, and collect their outcomes."""
        futures = [f for f in (self._read, *self._signals) if f is not None]
        for future in futures:
            future.cancel()
        # Collected so that none is reported as "exception never retrieved" (a read pending
        # when the RPC was aborted ends with AbortError).
        await asyncio.gather(*futures, return_exceptions=True)


class RegistrationService(pb_grpc.RegistrationServiceServicer):
    """Protobuf ↔ :class:`Registrar` and the registry; every error is mapped by
    :func:`abort_for`. ``stopping()`` returns once the replica is shutting down."""

    def __init__(
        self,
        store: Store,
        registrar: Registrar,
        *,
        replica: str,
        stopping: Callable[[], Awaitable[None]],
        domain: str = DEFAULT_DOMAIN,
    ) -> None:
        self._store = store
        self._registrar = registrar
        self._replica = replica
        self._stopping = stopping
        self._domain = domain

    # A coroutine writing with context.write (which grpc.aio accepts), not an async generator:
    # when the agent goes, the cancellation lands in this coroutine and the registration is
    # released right away, rather than whenever an abandoned generator gets finalized.
    async def Register(  # type: ignore[override]  # see the comment above
        self,
        request_iterator: AsyncIterator[pb.RegisterRequest],
        context: aio.ServicerContext[Any, Any],
    ) -> None:
        """Register the stream's workload and hold it while heartbeats come (see the proto)."""
        requests = _Requests(request_iterator)
        requests.end_when(self._stopping(), _End.STOPPING)
        ttl = self._registrar.ttl
        try:
            try:
                first = await requests.next(ttl)
                if first is _End.CLOSED:
                    return
                if isinstance(first, _End):
                    await _abort_ended(context, first, ttl)
                    return
                if first.WhichOneof("kind") != "workload":
                    raise OutOfOrder("a registration stream must start with a workload")
                workload = validate_workload(
                    convert.workload_spec(first.workload), domain=self._domain
                )
                registration = await self._registrar.register(workload)
            except HANDLED as exc:
                await abort_for(context, exc)
                raise
            await self._hold(registration, requests, context)
        finally:
            await requests.close()

    async def _hold(
        self,
        registration: Registration,
        requests: _Requests,
        context: aio.ServicerContext[Any, Any],
    ) -> None:
        ttl = self._registrar.ttl
        reason = _End.CLOSED.value
        try:
            await context.write(
                convert.registered(
                    registration.registration_id,
                    registration.workload,
                    ttl=ttl,
                    replica=self._replica,
                )
            )
            requests.end_when(registration.wait_lost(), _End.LOST)
            while True:
                request = await requests.next(ttl)
                if isinstance(request, _End):
                    reason = request.value
                    if request is not _End.CLOSED:
                        await _abort_ended(context, request, ttl)
                    return
                kind = request.WhichOneof("kind")
                if kind == "heartbeat":
                    health = convert.health_from_pb(request.heartbeat.health)
                    if health is not None:
                        await self._registrar.set_health(registration, health)
                    await context.write(
                        pb.RegisterResponse(
                            heartbeat_ack=pb.HeartbeatAck(sequence=request.heartbeat.sequence)
                        )
                    )
                elif kind == "deregister":
                    reason = "deregistered"
                    await self._registrar.release(registration, reason=reason)
                    await context.write(pb.RegisterResponse(deregistered=pb.Deregistered()))
                    return
                else:
                    raise OutOfOrder(
                        "a registration stream carries one workload: to change it, deregister "
                        "and register again on a new stream"
                    )
        except HANDLED as exc:
            reason = "error"
            await abort_for(context, exc)
            raise
        finally:
            if reason == _End.STOPPING.value:
                await self._registrar.abandon(registration, reason=reason)
            else:
                # Shielded: a cancelled RPC (the agent vanished) must still revoke its lease.
                await asyncio.shield(self._registrar.release(registration, reason=reason))

    async def ListWorkloads(
        self, request: pb.ListWorkloadsRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ListWorkloadsResponse:
        """The registry's workloads, by namespace and source."""
        registry = await self._read(context)
        listings = list_workloads(registry, namespace=request.namespace, source=request.source)
        return pb.ListWorkloadsResponse(
            workloads=[convert.workload_to_pb(w, registry.services) for w in listings],
            revision=registry.revision,
        )

    async def ListServices(
        self, request: pb.ListServicesRequest, context: aio.ServicerContext[Any, Any]
    ) -> pb.ListServicesResponse:
        """The registry's services with endpoint counts."""
        registry = await self._read(context)
        listings = list_services(registry, namespace=request.namespace)
        return pb.ListServicesResponse(
            services=[convert.service_to_pb(s) for s in listings], revision=registry.revision
        )

    async def _read(self, context: aio.ServicerContext[Any, Any]) -> Registry:
        view = RegistryView()
        try:
            await view.load(self._store)
        except HANDLED as exc:
            await abort_for(context, exc)
            raise
        return view.current


async def _abort_ended(context: aio.ServicerContext[Any, Any], end: _End, ttl: int) -> None:
    if end is _End.SILENT:
        await context.abort(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"no message for {ttl}s: the registration (if any) was removed; register again",
        )
    if end is _End.LOST:
        await context.abort(
            grpc.StatusCode.UNAVAILABLE, "the registration's lease was lost; register again"
        )
    await context.abort(
        grpc.StatusCode.UNAVAILABLE,
        "this discovery replica is shutting down; register with another replica",
    )
