"""The runtime in-process: gRPC health, reflection, metrics, spans, logs, lifecycle.

Everything runs on real loopback sockets (ports picked by the kernel) with
real gRPC clients and a real HTTP exchange for /metrics.
"""

from __future__ import annotations

import asyncio
import io
import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from mizzen.runtime import (
    EXIT_FAILURE,
    EXIT_FORCED,
    EXIT_OK,
    BindError,
    LifecycleError,
    LogFormat,
    LogLevel,
    ServiceRuntime,
    ServiceSettings,
    configure_logging,
    create_channel,
    reset_logging,
)

ECHO = "mizzen.test.v1.Echo"
DEADLINE = 10.0


class Recorder:
    """What the fixture's service saw: spans, log lines, forced exits."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.log = io.StringIO()
        self.forced: list[int] = []

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.getvalue().splitlines() if line]

    def events(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == event]


def echo_handler() -> grpc.GenericRpcHandler:
    log = structlog.get_logger("echo")

    async def say(request: bytes, context: Any) -> bytes:
        log.info("echo saying", size=len(request))
        return request

    async def fail(request: bytes, context: Any) -> bytes:
        await context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")
        raise AssertionError("abort returns only by raising")

    async def crash(request: bytes, context: Any) -> bytes:
        raise ValueError("handler bug")

    async def count(request: bytes, context: Any) -> AsyncIterator[bytes]:
        for index in range(int(request)):
            yield str(index).encode()

    return grpc.method_handlers_generic_handler(
        ECHO,
        {
            "Say": grpc.unary_unary_rpc_method_handler(say),
            "Fail": grpc.unary_unary_rpc_method_handler(fail),
            "Crash": grpc.unary_unary_rpc_method_handler(crash),
            "Count": grpc.unary_stream_rpc_method_handler(count),
        },
    )


def make_runtime(recorder: Recorder, **overrides: Any) -> ServiceRuntime[ServiceSettings]:
    configure_logging(LogLevel.DEBUG, LogFormat.JSON, stream=recorder.log)
    fields: dict[str, Any] = {"service_name": "echo", "shutdown_grace_seconds": 5.0}
    fields.update(overrides)
    runtime = ServiceRuntime.create(
        ServiceSettings(**fields),
        span_processors=[SimpleSpanProcessor(recorder.spans)],
        force_exit=recorder.forced.append,
    )
    handler = echo_handler()
    runtime.grpc.add_service(ECHO, lambda server: server.add_generic_rpc_handlers((handler,)))
    return runtime


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    yield Recorder()
    reset_logging()


@pytest.fixture
async def runtime(recorder: Recorder) -> AsyncIterator[ServiceRuntime[ServiceSettings]]:
    service = make_runtime(recorder)
    async with service:
        yield service


@pytest.fixture
async def channel(runtime: ServiceRuntime[ServiceSettings]) -> AsyncIterator[grpc.aio.Channel]:
    async with create_channel(runtime.grpc.address) as opened:
        yield opened


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


async def http_get(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    async with asyncio.timeout(DEADLINE):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        await writer.drain()
        response = await reader.read()
        writer.close()
        await writer.wait_closed()
    head, _, body = response.decode().partition("\r\n\r\n")
    return int(head.split(" ")[1]), body


def sample_value(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


async def call(channel: grpc.aio.Channel, method: str, payload: bytes) -> bytes:
    result: bytes = await channel.unary_unary(f"/{ECHO}/{method}")(payload, timeout=DEADLINE)
    return result


async def test_health_check_serves_server_and_registered_service(
    channel: grpc.aio.Channel,
) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", ECHO):
        response = await stub.Check(
            health_pb2.HealthCheckRequest(service=service), timeout=DEADLINE
        )
        assert response.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Check(health_pb2.HealthCheckRequest(service="nope.Svc"), timeout=DEADLINE)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND


async def test_reflection_lists_health_reflection_and_our_service(
    channel: grpc.aio.Channel,
) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    names = []
    async for response in stub.ServerReflectionInfo(iter([request]), timeout=DEADLINE):
        names += [service.name for service in response.list_services_response.service]
    assert set(names) == {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        ECHO,
    }


async def test_metrics_endpoint_counts_rpcs_by_code(
    runtime: ServiceRuntime[ServiceSettings], channel: grpc.aio.Channel
) -> None:
    assert await call(channel, "Say", b"hi") == b"hi"
    assert await call(channel, "Say", b"again") == b"again"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(channel, "Fail", b"")
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as crashed:
        await call(channel, "Crash", b"")
    assert crashed.value.code() is grpc.StatusCode.UNKNOWN
    streamed = [m async for m in channel.unary_stream(f"/{ECHO}/Count")(b"3", timeout=DEADLINE)]
    assert streamed == [b"0", b"1", b"2"]

    status, text = await http_get(runtime.metrics.port, "/metrics")
    assert status == 200
    say = {"grpc_service": ECHO, "grpc_method": "Say", "grpc_type": "unary"}
    assert sample_value(text, "grpc_server_started_total", **say) == 2
    assert sample_value(text, "grpc_server_handled_total", grpc_code="OK", **say) == 2
    assert sample_value(text, "grpc_server_handling_seconds_count", **say) == 2
    assert sample_value(text, "grpc_server_handled_total", grpc_method="Fail") is not None
    assert (
        sample_value(text, "grpc_server_handled_total", grpc_method="Fail", grpc_code="NOT_FOUND")
        == 1
    )
    assert (
        sample_value(text, "grpc_server_handled_total", grpc_method="Crash", grpc_code="UNKNOWN")
        == 1
    )
    count = {"grpc_method": "Count", "grpc_type": "server_stream", "grpc_code": "OK"}
    assert sample_value(text, "grpc_server_handled_total", **count) == 1
    # Process metrics come from the service's own registry, not the global one.
    assert sample_value(text, "process_cpu_seconds_total") is not None
    assert REGISTRY.get_sample_value("grpc_server_started_total", say) is None


async def test_server_span_joins_the_callers_trace(
    recorder: Recorder, channel: grpc.aio.Channel
) -> None:
    client_spans = InMemorySpanExporter()
    client_provider = TracerProvider(shutdown_on_exit=False)
    client_provider.add_span_processor(SimpleSpanProcessor(client_spans))
    with client_provider.get_tracer("test").start_as_current_span("client operation") as parent:
        await call(channel, "Say", b"traced")
        with pytest.raises(grpc.aio.AioRpcError):
            await call(channel, "Crash", b"")
    parent_context = parent.get_span_context()

    spans = {span.name: span for span in recorder.spans.get_finished_spans()}
    say = spans[f"{ECHO}/Say"]
    assert say.kind is trace.SpanKind.SERVER
    assert say.context is not None
    assert say.context.trace_id == parent_context.trace_id
    assert say.parent is not None
    assert say.parent.span_id == parent_context.span_id
    assert say.attributes is not None
    assert say.attributes["rpc.grpc.status_code"] == 0
    assert say.attributes["rpc.service"] == ECHO
    assert say.resource.attributes["service.name"] == "echo"
    assert say.status.is_ok

    crash = spans[f"{ECHO}/Crash"]
    assert crash.status.status_code is trace.StatusCode.ERROR
    assert [event.name for event in crash.events] == ["exception"]


async def test_one_log_line_per_rpc_with_code_duration_and_trace(
    recorder: Recorder, channel: grpc.aio.Channel
) -> None:
    await call(channel, "Say", b"logged")
    with pytest.raises(grpc.aio.AioRpcError):
        await call(channel, "Crash", b"")

    finished = {line["grpc_method"]: line for line in recorder.events("rpc finished")}
    say = finished[f"/{ECHO}/Say"]
    assert say["grpc_code"] == "OK"
    assert say["service"] == "echo"
    assert say["level"] == "info"
    assert say["duration_ms"] >= 0
    assert say["peer"].startswith("ipv")
    server_span = next(s for s in recorder.spans.get_finished_spans() if s.name.endswith("/Say"))
    assert server_span.context is not None
    assert say["trace_id"] == format(server_span.context.trace_id, "032x")
    crash = finished[f"/{ECHO}/Crash"]
    assert crash["level"] == "error"
    assert crash["grpc_code"] == "UNKNOWN"
    assert "handler bug" in json.dumps(crash["exception"])
    # The handler's own line carries the method bound by the interceptor.
    (saying,) = recorder.events("echo saying")
    assert saying["grpc_method"] == f"/{ECHO}/Say"


async def test_health_and_ready_endpoints(runtime: ServiceRuntime[ServiceSettings]) -> None:
    port = runtime.metrics.port
    assert await http_get(port, "/healthz") == (200, "ok\n")
    assert await http_get(port, "/readyz") == (200, "ready\n")
    assert (await http_get(port, "/nope"))[0] == 404
    assert (await http_get(port, "/metrics", method="POST"))[0] == 405
    assert await http_get(port, "/readyz", method="HEAD") == (200, "")
    runtime.grpc.health.enter_graceful_shutdown()
    assert await http_get(port, "/readyz") == (503, "not ready\n")
    assert await http_get(port, "/healthz") == (200, "ok\n")


async def test_watch_reports_not_serving_and_ends_on_shutdown(
    runtime: ServiceRuntime[ServiceSettings], channel: grpc.aio.Channel
) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    watch = stub.Watch(health_pb2.HealthCheckRequest(service=ECHO), timeout=DEADLINE)
    first = await watch.read()
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    async with asyncio.timeout(DEADLINE):
        exit_code = await runtime.shutdown()
        rest = [message.status async for message in watch]
    assert rest == [health_pb2.HealthCheckResponse.NOT_SERVING]
    assert await watch.code() is grpc.StatusCode.OK
    assert exit_code == EXIT_OK


async def test_grpc_port_in_use_raises_bind_error_naming_the_port(
    recorder: Recorder, occupied_port: int
) -> None:
    service = make_runtime(recorder, grpc_port=occupied_port)
    with pytest.raises(BindError) as caught:
        async with service:
            pass
    assert caught.value.component == "grpc"
    assert caught.value.port == occupied_port
    assert f"127.0.0.1:{occupied_port}" in str(caught.value)


async def test_metrics_port_in_use_raises_bind_error_naming_the_port(
    recorder: Recorder, occupied_port: int
) -> None:
    service = make_runtime(recorder, metrics_port=occupied_port)
    with pytest.raises(
        BindError, match=f"metrics server cannot listen on 127.0.0.1:{occupied_port}"
    ):
        await service.start()
    await service.shutdown()


async def test_services_cannot_be_added_after_start(
    runtime: ServiceRuntime[ServiceSettings],
) -> None:
    with pytest.raises(LifecycleError):
        runtime.grpc.add_service("late.Svc", lambda server: None)


async def test_run_shuts_down_with_callbacks_in_reverse_order(recorder: Recorder) -> None:
    service = make_runtime(recorder)
    order: list[str] = []

    async def setup(runtime: ServiceRuntime[ServiceSettings]) -> None:
        for name in ("a", "b", "c"):

            async def record(name: str = name) -> None:
                order.append(name)

            runtime.on_shutdown(record, name=name)

        async def stop_soon() -> None:
            await runtime.wait_shutdown_requested()

        runtime.spawn(stop_soon(), name="waiter")
        runtime.request_shutdown("test done")

    async with asyncio.timeout(DEADLINE):
        assert await service.run(setup, signals=None) == EXIT_OK
    assert order == ["c", "b", "a"]
    assert [line["exit_code"] for line in recorder.events("service stopped")] == [EXIT_OK]


async def test_failing_background_task_stops_the_service_with_failure(
    recorder: Recorder,
) -> None:
    service = make_runtime(recorder)

    async def broken() -> None:
        raise RuntimeError("watch lost")

    async def setup(runtime: ServiceRuntime[ServiceSettings]) -> None:
        runtime.spawn(broken(), name="watcher")

    async with asyncio.timeout(DEADLINE):
        assert await service.run(setup, signals=None) == EXIT_FAILURE
    (failure,) = recorder.events("background task failed")
    assert failure["task"] == "watcher"


async def test_callback_overrunning_the_grace_period_is_cancelled(recorder: Recorder) -> None:
    service = make_runtime(recorder, shutdown_grace_seconds=0.3)
    cancelled = asyncio.Event()

    async def stuck() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    async def setup(runtime: ServiceRuntime[ServiceSettings]) -> None:
        runtime.on_shutdown(stuck, name="stuck")
        runtime.request_shutdown("test done")

    async with asyncio.timeout(DEADLINE):
        assert await service.run(setup, signals=None) == EXIT_FAILURE
    assert cancelled.is_set()
    assert recorder.events("shutdown callback timed out")[0]["callback"] == "stuck"


async def test_start_failure_in_run_is_logged_and_exits_with_failure(
    recorder: Recorder, occupied_port: int
) -> None:
    service = make_runtime(recorder, grpc_port=occupied_port)
    async with asyncio.timeout(DEADLINE):
        assert await service.run(signals=None) == EXIT_FAILURE
    (failed,) = recorder.events("service start failed")
    assert str(occupied_port) in failed["error"]


async def test_second_signal_forces_exit(recorder: Recorder) -> None:
    service = make_runtime(recorder)
    service.handle_signal(15)
    assert service.shutdown_requested
    assert recorder.forced == []
    service.handle_signal(2)
    assert recorder.forced == [EXIT_FORCED]
    await service.shutdown()


def add_held_service(
    service: ServiceRuntime[ServiceSettings], release: asyncio.Event, started: asyncio.Event
) -> str:
    name = "mizzen.test.v1.Held"

    async def hold(request: bytes, context: Any) -> bytes:
        started.set()
        await release.wait()
        return b"released"

    handler = grpc.method_handlers_generic_handler(
        name, {"Hold": grpc.unary_unary_rpc_method_handler(hold)}
    )
    service.grpc.add_service(name, lambda server: server.add_generic_rpc_handlers((handler,)))
    return f"/{name}/Hold"


async def test_shutdown_refuses_new_rpcs_and_drains_inflight_ones(recorder: Recorder) -> None:
    service = make_runtime(recorder)
    release, started = asyncio.Event(), asyncio.Event()
    method = add_held_service(service, release, started)
    await service.start()
    async with create_channel(service.grpc.address) as channel:
        held = asyncio.ensure_future(channel.unary_unary(method)(b"", timeout=DEADLINE))
        async with asyncio.timeout(DEADLINE):
            await started.wait()
        stopping = asyncio.ensure_future(service.shutdown())
        async with asyncio.timeout(DEADLINE):
            await service.grpc.health.wait_shutting_down()
        async with create_channel(service.grpc.address) as late_channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await late_channel.unary_unary(f"/{ECHO}/Say")(b"late", timeout=DEADLINE)
        # Depending on how far the stop got, the late call is refused at
        # connect (UNAVAILABLE) or at call admission (CANCELLED); never served.
        assert refused.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        assert recorder.events("echo saying") == []
        assert not stopping.done()
        release.set()
        assert await held == b"released"
        async with asyncio.timeout(DEADLINE):
            assert await stopping == EXIT_OK


async def test_rpc_outliving_the_grace_period_is_cancelled(recorder: Recorder) -> None:
    service = make_runtime(recorder, shutdown_grace_seconds=0.3)
    release, started = asyncio.Event(), asyncio.Event()
    method = add_held_service(service, release, started)
    await service.start()
    async with create_channel(service.grpc.address) as channel:
        held = asyncio.ensure_future(channel.unary_unary(method)(b"", timeout=DEADLINE))
        async with asyncio.timeout(DEADLINE):
            await started.wait()
            assert await service.shutdown() == EXIT_OK
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await held
    assert caught.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    (finished,) = [e for e in recorder.events("rpc finished") if e["grpc_method"] == method]
    assert finished["grpc_code"] == "CANCELLED"
