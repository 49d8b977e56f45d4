"""Server interceptors: Prometheus RPC metrics, OpenTelemetry spans, one log line per RPC.

All three share one mechanism: an :class:`ObservingInterceptor` wraps the
method handler so that ``begin`` runs when the handler starts and the
returned scope's ``finish`` runs once when it ends, with the final status
code. That works for every RPC shape (unary or streaming requests and
responses, ``async def`` handlers that return or ``context.write``, and
async-generator handlers). Handlers must be async, as everything in Mizzen is.

Interceptors run in the order given to the server, the first outermost; the
server puts tracing first, so the metrics and the log line of an RPC are
recorded inside its span (the log line carries its ``trace_id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import inspect
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from typing import Any, Protocol

import grpc
import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.status import Status, StatusCode
from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = [
    "LoggingInterceptor",
    "MetricsInterceptor",
    "ObservingInterceptor",
    "RpcInfo",
    "RpcScope",
    "TracingInterceptor",
]

_CODES_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}

# Codes that mean the server failed (OpenTelemetry's semantic conventions for
# gRPC server spans); other codes are the caller's problem, not an error here.
_SERVER_FAULTS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)

_QUIET_SERVICES = frozenset({"grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"})


@dataclasses.dataclass(frozen=True)
class RpcInfo:
    """What is known about an RPC when it starts.

    ``full_method`` is ``/package.Service/Method``; ``rpc_type`` is one of
    ``unary``, ``client_stream``, ``server_stream``, ``bidi_stream``.
    """

    full_method: str
    service: str
    method: str
    rpc_type: str
    metadata: tuple[tuple[str, str | bytes], ...]
    peer: str


class RpcScope(Protocol):
    """Returned by ``begin``; ``finish`` is called exactly once when the RPC ends."""

    def finish(self, code: grpc.StatusCode, error: BaseException | None) -> None:
        """Record the end of the RPC with its final status code."""


def _status_of(context: grpc.aio.ServicerContext[Any, Any]) -> grpc.StatusCode:
    code = context.code()
    if code is None:
        return grpc.StatusCode.OK
    if isinstance(code, grpc.StatusCode):
        return code
    return _CODES_BY_NUMBER.get(int(code), grpc.StatusCode.UNKNOWN)


def _status_of_error(
    error: BaseException, context: grpc.aio.ServicerContext[Any, Any]
) -> grpc.StatusCode:
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return grpc.StatusCode.CANCELLED
    if isinstance(error, grpc.aio.AbortError):
        code = _status_of(context)
        return grpc.StatusCode.UNKNOWN if code is grpc.StatusCode.OK else code
    return grpc.StatusCode.UNKNOWN


def _unexpected(error: BaseException | None) -> BaseException | None:
    """The error if it is a handler bug, not an abort or a cancellation."""
    if error is None or isinstance(
        error, grpc.aio.AbortError | asyncio.CancelledError | GeneratorExit
    ):
        return None
    return error


def _rpc_type(handler: grpc.RpcMethodHandler) -> str:
    if handler.request_streaming:
        return "bidi_stream" if handler.response_streaming else "client_stream"
    return "server_stream" if handler.response_streaming else "unary"


Begin = Callable[[RpcInfo], RpcScope]


def _wrap_behavior(
    behavior: Callable[..., Any],
    info: Callable[[grpc.aio.ServicerContext[Any, Any]], RpcInfo],
    begin: Begin,
) -> Callable[..., Any]:
    if inspect.isasyncgenfunction(behavior):

        async def observed_stream(request: Any, context: Any) -> AsyncIterator[Any]:
            scope = begin(info(context))
            try:
                async for response in behavior(request, context):
                    yield response
            except BaseException as exc:
                scope.finish(_status_of_error(exc, context), exc)
                raise
            scope.finish(_status_of(context), None)

        return observed_stream

    async def observed(request: Any, context: Any) -> Any:
        scope = begin(info(context))
        try:
            result = behavior(request, context)
            if inspect.isawaitable(result):
                result = await result
        except BaseException as exc:
            scope.finish(_status_of_error(exc, context), exc)
            raise
        scope.finish(_status_of(context), None)
        return result

    return observed


class ObservingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]  # grpc is untyped
    """Base of interceptors that observe each RPC from start to end.

    Subclasses implement :meth:`begin`, called in the RPC's own contextvars
    context before the handler runs (so contextvars set there are seen by the
    handler and must be reset by ``finish``).
    """

    @abstractmethod
    def begin(self, info: RpcInfo) -> RpcScope:
        """Start observing an RPC; return the scope that will see its end."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        """Wrap the handler found by ``continuation``; unknown methods pass through."""
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        full_method: str = handler_call_details.method
        service, _, method = full_method.lstrip("/").partition("/")
        rpc_type = _rpc_type(handler)
        metadata = tuple(handler_call_details.invocation_metadata or ())

        def info(context: grpc.aio.ServicerContext[Any, Any]) -> RpcInfo:
            return RpcInfo(full_method, service, method, rpc_type, metadata, context.peer())

        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_behavior(handler.unary_unary, info, self.begin),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_behavior(handler.unary_stream, info, self.begin),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _wrap_behavior(handler.stream_unary, info, self.begin),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            _wrap_behavior(handler.stream_stream, info, self.begin),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class _MetricsScope:
    def __init__(self, interceptor: MetricsInterceptor, labels: tuple[str, str, str]) -> None:
        self._interceptor = interceptor
        self._labels = labels
        self._started = time.perf_counter()

    def finish(self, code: grpc.StatusCode, error: BaseException | None) -> None:
        elapsed = time.perf_counter() - self._started
        self._interceptor.handled.labels(*self._labels, code.name).inc()
        self._interceptor.handling_seconds.labels(*self._labels).observe(elapsed)


class MetricsInterceptor(ObservingInterceptor):
    """Prometheus RPC metrics on the given registry.

    ``grpc_server_started_total``, ``grpc_server_handled_total`` (with
    ``grpc_code``) and the ``grpc_server_handling_seconds`` histogram, each
    labelled ``grpc_type``, ``grpc_service``, ``grpc_method``. Registering
    two of these on one registry fails (duplicate metric names).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ("grpc_type", "grpc_service", "grpc_method")
        self.started = Counter(
            "grpc_server_started", "RPCs started on the server.", labels, registry=registry
        )
        self.handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, whatever their status code.",
            (*labels, "grpc_code"),
            registry=registry,
        )
        self.handling_seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC's handler to its end.",
            labels,
            registry=registry,
        )

    def begin(self, info: RpcInfo) -> RpcScope:
        """Count the start; the scope counts the end and observes the duration."""
        labels = (info.rpc_type, info.service, info.method)
        self.started.labels(*labels).inc()
        return _MetricsScope(self, labels)


class _SpanScope:
    def __init__(self, span: trace.Span, token: contextvars.Token[otel_context.Context]) -> None:
        self._span = span
        self._token = token

    def finish(self, code: grpc.StatusCode, error: BaseException | None) -> None:
        self._span.set_attribute("rpc.grpc.status_code", code.value[0])
        bug = _unexpected(error)
        if bug is not None:
            self._span.record_exception(bug)
        if code in _SERVER_FAULTS:
            self._span.set_status(Status(StatusCode.ERROR, code.name))
        otel_context.detach(self._token)
        self._span.end()


class TracingInterceptor(ObservingInterceptor):
    """A SERVER span per RPC, child of the W3C trace context in the request metadata.

    The span is current while the handler runs, so spans the handler starts
    (with any tracer) are its children. Baggage in the metadata is extracted
    too. Span names are ``package.Service/Method``, attributes follow
    OpenTelemetry's RPC semantic conventions.
    """

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer
        self._propagator = CompositePropagator(
            [TraceContextTextMapPropagator(), W3CBaggagePropagator()]
        )

    def begin(self, info: RpcInfo) -> RpcScope:
        """Start the span with the caller's context as parent and make it current."""
        carrier = {key: value for key, value in info.metadata if isinstance(value, str)}
        parent = self._propagator.extract(carrier)
        span = self._tracer.start_span(
            info.full_method.lstrip("/"),
            context=parent,
            kind=trace.SpanKind.SERVER,
            attributes={
                "rpc.system": "grpc",
                "rpc.service": info.service,
                "rpc.method": info.method,
            },
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        return _SpanScope(span, token)


class _LogScope:
    def __init__(
        self,
        log: Any,
        info: RpcInfo,
        quiet: bool,
        tokens: Mapping[str, contextvars.Token[Any]],
    ) -> None:
        self._log = log
        self._info = info
        self._quiet = quiet
        self._tokens = tokens
        self._started = time.perf_counter()

    def finish(self, code: grpc.StatusCode, error: BaseException | None) -> None:
        duration_ms = round((time.perf_counter() - self._started) * 1000, 3)
        fields = {
            "grpc_code": code.name,
            "duration_ms": duration_ms,
            "peer": self._info.peer,
        }
        bug = _unexpected(error)
        if bug is not None:
            self._log.error("rpc finished", **fields, exc_info=bug)
        elif code in _SERVER_FAULTS:
            self._log.warning("rpc finished", **fields)
        elif self._quiet:
            self._log.debug("rpc finished", **fields)
        else:
            self._log.info("rpc finished", **fields)
        # An abandoned streaming handler may be finalized from another context,
        # where these tokens cannot be reset; that context is discarded anyway.
        with contextlib.suppress(ValueError):
            structlog.contextvars.reset_contextvars(**self._tokens)


class LoggingInterceptor(ObservingInterceptor):
    """One canonical ``rpc finished`` log line per RPC (method, code, duration, peer).

    ``grpc_method`` is bound in the log context while the handler runs, so
    the handler's own lines carry it. Handler bugs (exceptions other than
    aborts) are logged here with their traceback, once. RPCs of
    ``quiet_services`` (health checks, reflection) log at debug when they
    succeed, so probes do not flood the log.
    """

    def __init__(
        self,
        logger: Any = None,
        *,
        quiet_services: Collection[str] = _QUIET_SERVICES,
    ) -> None:
        self._log = logger if logger is not None else structlog.get_logger("mizzen.runtime.grpc")
        self._quiet_services = frozenset(quiet_services)

    def begin(self, info: RpcInfo) -> RpcScope:
        """Bind ``grpc_method`` for the handler and start timing."""
        tokens = structlog.contextvars.bind_contextvars(grpc_method=info.full_method)
        return _LogScope(self._log, info, info.service in self._quiet_services, tokens)
