"""The ``grpc.aio`` server every Mizzen service runs.

A :class:`GrpcServer` collects service registrations, then :meth:`start`
builds the ``grpc.aio`` server with:

- the standard health service (``grpc.health.v1.Health``), every registered
  service SERVING once started, settable per service;
- server reflection listing every registered service (plus health and
  reflection themselves), so ``grpcurl list`` works;
- interceptors, outermost first: OpenTelemetry SERVER spans (W3C trace
  context from the metadata), Prometheus RPC metrics on the given registry,
  one ``rpc finished`` log line per RPC; then any extra ones given;
- keepalive options that detect dead peers and accept the pings of
  :func:`mizzen.runtime.grpc_client.create_channel`;
- ``SO_REUSEPORT`` off, so a port already taken fails with ``BindError``
  instead of silently sharing the port with another process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc
import structlog
from grpc_health.v1 import health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import trace
from prometheus_client import CollectorRegistry

from mizzen.runtime.errors import BindError, LifecycleError
from mizzen.runtime.health import HEALTH_SERVICE_NAME, HealthServicer
from mizzen.runtime.interceptors import LoggingInterceptor, MetricsInterceptor, TracingInterceptor

__all__ = ["REFLECTION_SERVICE_NAME", "SERVER_KEEPALIVE_OPTIONS", "GrpcServer"]

REFLECTION_SERVICE_NAME: str = reflection.SERVICE_NAME
"""Full name of the reflection service, as listed by reflection."""

SERVER_KEEPALIVE_OPTIONS: tuple[tuple[str, int], ...] = (
    # Ping idle connections every 30 s and drop a peer silent for 10 s more:
    # a proxy that vanished without a FIN must not hold a stream forever.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    # Clients ping every 20 s (grpc_client.CLIENT_KEEPALIVE_OPTIONS); allow
    # down to 10 s before counting a ping as abuse.
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.http2.max_ping_strikes", 2),
)
"""Keepalive options of every Mizzen gRPC server; ``options`` given later override them."""

_NO_PORT_SHARING = (("grpc.so_reuseport", 0),)

Registrar = Callable[[Any], object]
"""Adds a servicer to a ``grpc.aio.Server``, e.g. ``partial(add_FooServicer_to_server, foo)``."""


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


class GrpcServer:
    """Registrations now, a running ``grpc.aio`` server after :meth:`start`.

    Register every service before :meth:`start` (gRPC cannot add services
    to a running server). Use from one event loop. Building it registers the
    RPC metrics on ``registry``: one ``GrpcServer`` per registry.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        registry: CollectorRegistry,
        tracer: trace.Tracer,
        health: HealthServicer | None = None,
        logger: Any = None,
        interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
        options: Sequence[tuple[str, Any]] = (),
        credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._health = health if health is not None else HealthServicer()
        self._interceptors = [
            TracingInterceptor(tracer),
            MetricsInterceptor(registry),
            LoggingInterceptor(logger),
            *interceptors,
        ]
        merged = dict(SERVER_KEEPALIVE_OPTIONS)
        merged.update(dict(_NO_PORT_SHARING))
        merged.update(dict(options))
        self._options = list(merged.items())
        self._credentials = credentials
        self._registrations: list[tuple[str, Registrar]] = []
        self._server: Any = None
        self._port: int | None = None
        self._log = structlog.get_logger("mizzen.runtime.grpc")

    @property
    def health(self) -> HealthServicer:
        """The health servicer: set per-service status with ``set_serving``."""
        return self._health

    @property
    def service_names(self) -> tuple[str, ...]:
        """Full names of the services registered with :meth:`add_service`, in order."""
        return tuple(name for name, _ in self._registrations)

    @property
    def port(self) -> int:
        """The bound port (the real one when configured with 0); only after start."""
        if self._port is None:
            raise LifecycleError("grpc server has not been started")
        return self._port

    @property
    def address(self) -> str:
        """``host:port`` to dial this server at; only after start."""
        return _address(self._host, self.port)

    def add_service(self, service_name: str, register: Registrar) -> None:
        """Register a service by its full name and a function adding it to the server.

        ``register`` receives the ``grpc.aio.Server`` at :meth:`start`; the
        generated ``add_XServicer_to_server`` fits via ``functools.partial``,
        and so does ``lambda s: s.add_generic_rpc_handlers((handler,))``.
        ``service_name`` (``package.Service``) is what health and reflection
        report. Raises ``LifecycleError`` once started.
        """
        if self._server is not None:
            raise LifecycleError(f"cannot add service {service_name}: grpc server already started")
        if service_name in self.service_names:
            raise LifecycleError(f"service {service_name} is already registered")
        self._registrations.append((service_name, register))

    async def start(self) -> None:
        """Bind, start, and mark the server and its services SERVING.

        Raises ``BindError`` naming the address when the port cannot be
        bound (in use, bad host), ``LifecycleError`` when already started.
        """
        if self._server is not None:
            raise LifecycleError("grpc server already started")
        server = grpc.aio.server(interceptors=self._interceptors, options=self._options)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        for _, register in self._registrations:
            register(server)
        reflection.enable_server_reflection(
            (HEALTH_SERVICE_NAME, REFLECTION_SERVICE_NAME, *self.service_names), server
        )
        address = _address(self._host, self._requested_port)
        try:
            if self._credentials is None:
                port = server.add_insecure_port(address)
            else:
                port = server.add_secure_port(address, self._credentials)
        except RuntimeError as exc:
            await server.stop(None)
            # grpc reports every bind failure as this one RuntimeError; the
            # usual cause is a port in use, the rest (bad host) is in its text.
            raise BindError(
                component="grpc",
                host=self._host,
                port=self._requested_port,
                reason=f"address in use or not bindable ({exc})",
            ) from exc
        await server.start()
        self._server = server
        self._port = int(port)
        self._health.set_serving("", True)
        for name in self.service_names:
            self._health.set_serving(name, True)
        self._log.debug("grpc server started", address=self.address, services=self.service_names)

    async def stop(self, grace_seconds: float | None) -> None:
        """Mark everything NOT_SERVING, stop accepting RPCs, drain, then stop.

        In-flight RPCs get up to ``grace_seconds`` to finish (``None``: none,
        they are cancelled at once); returns when all have ended. Safe to
        call more than once and before :meth:`start`.
        """
        self._health.enter_graceful_shutdown()
        server = self._server
        if server is None:
            return
        await server.stop(grace_seconds)
