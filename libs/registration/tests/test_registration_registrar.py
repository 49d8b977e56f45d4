"""The registrar against real discovery replicas: register, follow health changes, move to
another replica when one dies or freezes, deregister; and the fatal cases."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import grpc
import pytest
from structlog.testing import capture_logs

from mizzen.launcher import PortAllocator, ServiceProcess
from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.registration import DiscoveryUnreachable, Registrar, RegistrationRefused, retry_delay
from mizzen.registry import Endpoint, Health, endpoint_key
from mizzen.store import Event, EventType, Store
from mizzen.testing import wait_for
from mizzen.testing.plugin import DISCOVERY_LEASE_TTL as LEASE_TTL
from mizzen.testing.plugin import DiscoveryFactory

EndpointReader = Callable[[], Awaitable[Endpoint | None]]
KEY = endpoint_key("reviews.default.svc.cluster.local", "default.reviews-v1")


async def test_registers_follows_health_and_deregisters(
    discovery: ServiceProcess, workload: pb.Workload, read_endpoint: EndpointReader
) -> None:
    workload.health = pb.HEALTH_UNHEALTHY
    registrar = Registrar([discovery.grpc_target], workload)
    assert registrar.health == pb.HEALTH_UNHEALTHY
    task = registrar.start()
    with capture_logs() as logs:
        try:
            await asyncio.wait_for(registrar.registered.wait(), 10)
            assert registrar.registrations == 1
            assert registrar.target == discovery.grpc_target
            assert registrar.registration is not None
            assert registrar.replica == registrar.registration.replica != ""
            endpoint = await read_endpoint()
            assert endpoint is not None
            assert endpoint.health is Health.UNHEALTHY

            registrar.set_health(pb.HEALTH_HEALTHY)

            async def healthy() -> bool:
                stored = await read_endpoint()
                return stored is not None and stored.health is Health.HEALTHY

            await wait_for(healthy, timeout=5, message="the health change to reach etcd")
        finally:
            await registrar.stop(deregister=True)
    assert task.done()
    assert task.exception() is None
    assert registrar.registration is None
    assert not registrar.registered.is_set()
    assert await read_endpoint() is None
    assert "workload deregistered" in [entry["event"] for entry in logs]


async def test_stop_without_deregister_closes_the_stream(
    discovery: ServiceProcess, workload: pb.Workload, read_endpoint: EndpointReader
) -> None:
    registrar = Registrar([discovery.grpc_target], workload)
    registrar.start()
    with capture_logs() as logs:
        try:
            await asyncio.wait_for(registrar.registered.wait(), 10)
        finally:
            await registrar.stop(deregister=False)
    # Discovery removes the registration as the half-closed stream ends; no Deregistered.
    assert await read_endpoint() is None
    assert "workload deregistered" not in [entry["event"] for entry in logs]


async def test_moves_to_another_replica_when_one_dies(
    discovery_factory: DiscoveryFactory,
    workload: pb.Workload,
    read_endpoint: EndpointReader,
    store: Store,
) -> None:
    first, second = await discovery_factory(), await discovery_factory()
    async with Registrar([first.grpc_target, second.grpc_target], workload) as registrar:
        await asyncio.wait_for(registrar.registered.wait(), 10)
        assert registrar.registrations == 1
        assert registrar.target == first.grpc_target
        await first.kill()
        await wait_for(lambda: registrar.registrations == 2 and registrar.registered.is_set(),
                       timeout=10, message="a registration with the second replica")  # fmt: skip
        assert registrar.target == second.grpc_target
        stored = await store.get(KEY)
        assert stored is not None
        # The dead replica's lease expires within the TTL: the key, now on the new
        # replica's lease, must not be deleted with it.
        deletes = []
        async with store.watch(KEY, start_revision=stored.mod_revision + 1) as watch:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LEASE_TTL + 1):
                    async for item in watch:
                        if isinstance(item, Event) and item.type is EventType.DELETE:
                            deletes.append(item)
        assert deletes == []
        assert await read_endpoint() is not None
    assert await read_endpoint() is None  # leaving the registrar deregistered


async def test_a_frozen_replica_is_left_for_the_next_at_once(
    frozen: str, discovery: ServiceProcess, workload: pb.Workload
) -> None:
    started = time.monotonic()
    async with Registrar([frozen, discovery.grpc_target], workload, answer_timeout=0.5,
                         retry_initial=30.0) as registrar:  # fmt: skip
        await asyncio.wait_for(registrar.registered.wait(), 10)
        assert registrar.target == discovery.grpc_target
    # No backoff (it would take 30s) between one replica and the next.
    assert time.monotonic() - started < 5


async def test_stop_while_registering_returns_at_once(
    frozen: str, frozen_connections: list[object], workload: pb.Workload
) -> None:
    registrar = Registrar([frozen], workload, answer_timeout=30.0)
    task = registrar.start()
    await wait_for(lambda: frozen_connections, timeout=10, message="a connection to the replica")
    started = time.monotonic()
    await registrar.stop(timeout=10)
    assert time.monotonic() - started < 2
    assert task.done()
    assert task.exception() is None
    assert registrar.registrations == 0


async def test_gives_up_when_no_replica_answers_by_the_deadline(
    ports: PortAllocator, workload: pb.Workload
) -> None:
    nowhere = f"127.0.0.1:{ports.take()}"
    registrar = Registrar([nowhere], workload, first_deadline=1.0)
    started = time.monotonic()
    with pytest.raises(DiscoveryUnreachable, match=r"no discovery replica registered .* within 1s"
                       ) as info:  # fmt: skip
        await asyncio.wait_for(registrar.start(), 10)
    assert time.monotonic() - started < 5
    assert info.value.targets == (nowhere,)
    assert info.value.last_error.startswith(f"{nowhere}: UNAVAILABLE")
    await registrar.stop()  # the error is the task's: stop() does not raise it


async def test_a_refused_workload_is_fatal(
    discovery: ServiceProcess, workload: pb.Workload
) -> None:
    workload.address = "not-an-address"
    registrar = Registrar([discovery.grpc_target], workload)
    with pytest.raises(RegistrationRefused, match="refused the workload: INVALID_ARGUMENT") as info:
        await asyncio.wait_for(registrar.start(), 10)
    assert info.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.target == discovery.grpc_target
    assert registrar.registrations == 0


def test_retry_delays_double_up_to_the_maximum_with_jitter() -> None:
    exact = [retry_delay(n, initial=0.5, maximum=3.0, rand=lambda: 0.0) for n in range(5)]
    assert exact == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert retry_delay(2, initial=0.5, maximum=3.0, rand=lambda: 1.0) == pytest.approx(1.6)
    assert retry_delay(10_000, initial=0.5, maximum=3.0, rand=lambda: 0.0) == 3.0


def test_a_registrar_needs_a_target(workload: pb.Workload) -> None:
    with pytest.raises(ValueError, match="at least one discovery target"):
        Registrar([], workload)
