"""The standard gRPC health service (``grpc.health.v1.Health``), for ``grpc.aio``.

Implemented here rather than taken from ``grpc_health.v1.health.aio`` for
one behaviour: when the server shuts down, open ``Watch`` streams receive
``NOT_SERVING`` and then *end*. With the reference servicer they stay open
until the grace period runs out, so a single health watcher (gRPC
client-side health checking, a mesh sidecar) would make every shutdown last
the whole grace period. The wire contract is the standard one.
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["HEALTH_SERVICE_NAME", "HealthServicer"]

HEALTH_SERVICE_NAME = "grpc.health.v1.Health"
"""Full name of the health service, as listed by reflection."""

_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
_SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class HealthServicer(health_pb2_grpc.HealthServicer):  # type: ignore[misc]  # generated base is untyped
    """Serving status per service name; ``""`` is the server as a whole.

    Setters are synchronous and must be called on the server's event loop.
    After :meth:`enter_graceful_shutdown` every status is ``NOT_SERVING`` for
    good: later setter calls are ignored and ``Watch`` streams end.
    """

    def __init__(self) -> None:
        self._statuses: dict[str, Any] = {"": _NOT_SERVING}
        self._changed = asyncio.Event()
        self._shutting_down = False
        self._shutdown_entered = asyncio.Event()

    @property
    def shutting_down(self) -> bool:
        """Whether :meth:`enter_graceful_shutdown` was called."""
        return self._shutting_down

    async def wait_shutting_down(self) -> None:
        """Return once :meth:`enter_graceful_shutdown` was called (the drain began)."""
        await self._shutdown_entered.wait()

    def set_serving(self, service: str, serving: bool) -> None:
        """Set ``service`` (``""`` for the whole server) to SERVING or NOT_SERVING."""
        if self._shutting_down:
            return
        self._statuses[service] = _SERVING if serving else _NOT_SERVING
        self._notify()

    def is_serving(self, service: str = "") -> bool:
        """Whether ``service`` is currently SERVING (False when unknown)."""
        return bool(self._statuses.get(service) == _SERVING)

    def enter_graceful_shutdown(self) -> None:
        """Mark every service NOT_SERVING, permanently, and end Watch streams."""
        if self._shutting_down:
            return
        for service in self._statuses:
            self._statuses[service] = _NOT_SERVING
        self._shutting_down = True
        self._shutdown_entered.set()
        self._notify()

    def _notify(self) -> None:
        # Watchers wait on the event they saw; replacing it before setting the
        # old one means no change between a watcher's read and its wait is lost.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> health_pb2.HealthCheckResponse:
        """Answer the current status; NOT_FOUND for a service never set."""
        status = self._statuses.get(request.service)
        if status is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def List(
        self, request: health_pb2.HealthListRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> health_pb2.HealthListResponse:
        """Answer every known service's status."""
        return health_pb2.HealthListResponse(
            statuses={
                name: health_pb2.HealthCheckResponse(status=status)
                for name, status in self._statuses.items()
            }
        )

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> None:
        """Stream the status now and on every change; end after shutdown begins."""
        last = None
        while True:
            changed = self._changed
            status = self._statuses.get(request.service, _SERVICE_UNKNOWN)
            if status != last:
                await context.write(health_pb2.HealthCheckResponse(status=status))
                last = status
            if self._shutting_down:
                return
            await changed.wait()
