"""Tracing: spans reach a real OTLP/gRPC receiver, flushed by a clean shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from mizzen.runtime import Tracing

DEADLINE = 10.0


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP trace receiver keeping every export request it gets."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    async def Export(self, request: Any, context: Any) -> Any:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, int]]:
    server = grpc.aio.server()
    servicer = Receiver()
    # The generated registration function carries no annotations.
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield servicer, port
    finally:
        await server.stop(None)


async def test_spans_are_exported_over_otlp_and_flushed_on_shutdown(
    receiver: tuple[Receiver, int],
) -> None:
    servicer, port = receiver
    tracing = Tracing.create("otlp-demo", otlp_endpoint=f"http://127.0.0.1:{port}")
    with tracing.tracer("test").start_as_current_span("reconcile", attributes={"k": "v"}):
        pass
    # The batch processor holds the span; only the shutdown flush sends it.
    async with asyncio.timeout(DEADLINE):
        await tracing.shutdown(timeout_seconds=DEADLINE)

    spans = [
        (span.name, resource_spans.resource)
        for request in servicer.requests
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]
    assert [name for name, _ in spans] == ["reconcile"]
    attributes = {kv.key: kv.value.string_value for kv in spans[0][1].attributes}
    assert attributes["service.name"] == "otlp-demo"


async def test_shutdown_twice_is_harmless() -> None:
    tracing = Tracing.create("twice")
    await tracing.shutdown()
    await tracing.shutdown()
