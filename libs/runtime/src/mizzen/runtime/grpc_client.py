"""Client side: ``grpc.aio`` channels with keepalive and W3C trace propagation.

:func:`create_channel` is how one Mizzen service calls another. Its
keepalive pings (every 20 s, also while idle) notice a dead peer behind a
silent network, and stay within what :mod:`mizzen.runtime.grpc_server`
allows, so servers never answer them with ``too_many_pings``. Every call
carries the caller's current OpenTelemetry context as ``traceparent`` /
``tracestate`` / ``baggage`` metadata, so the server's span joins the trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

__all__ = [
    "CLIENT_KEEPALIVE_OPTIONS",
    "create_channel",
    "trace_context_interceptors",
]

CLIENT_KEEPALIVE_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.keepalive_time_ms", 20_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
)
"""Channel options every Mizzen client uses; later options override them."""


def _w3c_propagator() -> TextMapPropagator:
    return CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


class _TraceContextInjector:
    def __init__(self, propagator: TextMapPropagator) -> None:
        self._propagator = propagator

    def _with_trace_context(self, details: grpc.aio.ClientCallDetails) -> Any:
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier)
        if not carrier:
            return details
        existing = list(details.metadata or ())
        present = {key for key, _ in existing}
        added = [(key, value) for key, value in carrier.items() if key not in present]
        return grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*existing, *added),
            details.credentials,
            details.wait_for_ready,
        )


class _UnaryUnary(_TraceContextInjector, grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]  # grpc is untyped
    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._with_trace_context(details), request)


class _UnaryStream(_TraceContextInjector, grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]  # grpc is untyped
    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(self._with_trace_context(details), request)


class _StreamUnary(_TraceContextInjector, grpc.aio.StreamUnaryClientInterceptor):  # type: ignore[misc]  # grpc is untyped
    async def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._with_trace_context(details), requests)


class _StreamStream(_TraceContextInjector, grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]  # grpc is untyped
    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return await continuation(self._with_trace_context(details), requests)


def trace_context_interceptors(
    propagator: TextMapPropagator | None = None,
) -> list[grpc.aio.ClientInterceptor]:
    """Return client interceptors (one per RPC shape) that inject the current context.

    ``grpc.aio`` files each interceptor under a single RPC shape, hence four
    objects. ``propagator`` defaults to W3C trace context plus baggage.
    Metadata keys the caller already set are left alone.
    """
    chosen = propagator if propagator is not None else _w3c_propagator()
    return [_UnaryUnary(chosen), _UnaryStream(chosen), _StreamUnary(chosen), _StreamStream(chosen)]


def create_channel(
    target: str,
    *,
    credentials: grpc.ChannelCredentials | None = None,
    options: Sequence[tuple[str, Any]] = (),
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
) -> grpc.aio.Channel:
    """Open a ``grpc.aio`` channel to ``target`` with keepalive and trace propagation.

    Plaintext unless ``credentials`` is given. ``options`` override
    :data:`CLIENT_KEEPALIVE_OPTIONS`; ``interceptors`` run after the trace
    context injection. Must be called with a running event loop; the caller
    owns the channel and closes it (``await channel.close()`` or
    ``async with``).
    """
    merged = dict(CLIENT_KEEPALIVE_OPTIONS)
    merged.update(dict(options))
    chain = [*trace_context_interceptors(), *interceptors]
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=list(merged.items()), interceptors=chain)
    return grpc.aio.secure_channel(
        target, credentials, options=list(merged.items()), interceptors=chain
    )
