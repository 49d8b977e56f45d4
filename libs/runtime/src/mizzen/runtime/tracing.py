"""OpenTelemetry tracing for one service: a provider, an optional OTLP export.

Each service owns a :class:`Tracing` (and so its own ``TracerProvider`` with
its own ``service.name``); nothing here sets OpenTelemetry's process-global
provider, so several services in one process keep their spans apart. Pass
``tracing.tracer(__name__)`` to the code that creates spans. The current
span itself travels in contextvars, as OpenTelemetry does everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from mizzen.runtime.errors import TracingError

__all__ = ["Tracing"]

_log = structlog.get_logger("mizzen.runtime.tracing")

_OTLP_TIMEOUT_SECONDS = 5.0


def _otlp_exporter(endpoint: str) -> SpanExporter:
    # Imported only when export is wanted: the exporter needs the generated
    # OTLP messages of opentelemetry-proto, which another package in the same
    # environment can shadow with an older copy (xds-protos bundles one).
    try:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise TracingError(
            f"cannot export traces to {endpoint}: the OTLP exporter does not import ({exc}); "
            "opentelemetry-proto is probably shadowed by an older copy"
        ) from exc
    return OTLPSpanExporter(
        endpoint=endpoint,
        insecure=endpoint.startswith("http://"),
        timeout=_OTLP_TIMEOUT_SECONDS,
    )


class Tracing:
    """A service's ``TracerProvider`` and its clean shutdown.

    Build it with :meth:`create`. Spans are exported by the given processors
    and, when an OTLP endpoint is set, by a ``BatchSpanProcessor`` over an
    OTLP/gRPC exporter. :meth:`shutdown` flushes pending spans within a
    deadline and stops export; spans started afterwards are dropped.
    """

    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider
        self._closed = False

    @classmethod
    def create(
        cls,
        service_name: str,
        *,
        otlp_endpoint: str | None = None,
        span_processors: Sequence[SpanProcessor] = (),
        resource_attributes: Mapping[str, str] | None = None,
    ) -> Tracing:
        """Build a provider whose resource carries ``service.name=service_name``.

        ``otlp_endpoint`` (``http://host:4317`` for plaintext, ``https://`` for
        TLS) adds batched OTLP/gRPC export; ``span_processors`` are added as
        given (tests pass a ``SimpleSpanProcessor`` over an in-memory exporter).
        Raises ``TracingError`` when the OTLP exporter cannot be loaded.
        """
        attributes: dict[str, str] = {**(resource_attributes or {}), SERVICE_NAME: service_name}
        provider = TracerProvider(
            resource=Resource.create(attributes),
            # Shut down explicitly by the runtime, within its grace period;
            # an atexit hook per provider would pile up in tests.
            shutdown_on_exit=False,
        )
        for processor in span_processors:
            provider.add_span_processor(processor)
        if otlp_endpoint:
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter(otlp_endpoint)))
            _log.info("trace export enabled", otlp_endpoint=otlp_endpoint)
        return cls(provider)

    @property
    def provider(self) -> TracerProvider:
        """The underlying provider (for instrumentation that takes one)."""
        return self._provider

    def tracer(self, name: str) -> trace.Tracer:
        """Return a tracer named ``name`` (usually the caller's ``__name__``)."""
        return self._provider.get_tracer(name)

    async def shutdown(self, timeout_seconds: float = 5.0) -> None:
        """Flush pending spans (waiting at most ``timeout_seconds``) and stop export.

        The SDK's flush and shutdown block, so they run in a worker thread to
        keep the event loop responsive. Safe to call more than once.
        """
        if self._closed:
            return
        self._closed = True
        timeout_millis = max(1, int(timeout_seconds * 1000))

        def flush_and_stop() -> bool:
            flushed = self._provider.force_flush(timeout_millis)
            self._provider.shutdown()
            return flushed

        if not await asyncio.to_thread(flush_and_stop):
            _log.warning("trace flush incomplete", timeout_seconds=timeout_seconds)
