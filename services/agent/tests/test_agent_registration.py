"""The agent's registration against real discovery replicas: register, follow the app's
health, move to another replica when one dies, deregister; and the fatal cases."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import pytest

from mizzen.agent import Registrar, RegistrationError, WorkloadSpec, build_services
from mizzen.launcher import PortAllocator, ServiceProcess
from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.registry import Endpoint, Health, endpoint_key
from mizzen.store import Event, EventType, Store
from mizzen.testing import wait_for

DiscoveryFactory = Callable[[], Awaitable[ServiceProcess]]
EndpointReader = Callable[[str, str], Awaitable[Endpoint | None]]
LEASE_TTL = 2  # as in conftest.py

HOST = "reviews.default.svc.cluster.local"
ENDPOINT_ID = "default.reviews-v2"
SPEC = WorkloadSpec(
    name="reviews-v2",
    command=("app",),
    services=build_services(["reviews"], ["9080:19080"]),
    labels={"app": "reviews", "version": "v2"},
    service_account="bookinfo-reviews",
)


async def test_registers_follows_health_and_deregisters(
    discovery: ServiceProcess, read_endpoint: EndpointReader
) -> None:
    registrar = Registrar([discovery.grpc_target], SPEC, "127.1.0.9", health=pb.HEALTH_UNHEALTHY)
    task = registrar.start()
    try:
        await asyncio.wait_for(registrar.registered.wait(), 10)
        endpoint = await read_endpoint(HOST, ENDPOINT_ID)
        assert endpoint is not None
        assert endpoint.address == "127.1.0.9"
        assert dict(endpoint.ports) == {9080: 9080}  # its Envoy's inbound listener
        assert dict(endpoint.labels) == {"app": "reviews", "version": "v2"}
        assert endpoint.service_account == "bookinfo-reviews"
        assert endpoint.health is Health.UNHEALTHY

        registrar.set_health(pb.HEALTH_HEALTHY)

        async def healthy() -> bool:
            stored = await read_endpoint(HOST, ENDPOINT_ID)
            return stored is not None and stored.health is Health.HEALTHY

        await wait_for(healthy, timeout=5, message="the health change to reach etcd")
    finally:
        await registrar.stop(deregister=True)
    assert task.done()
    assert task.exception() is None
    assert await read_endpoint(HOST, ENDPOINT_ID) is None


async def test_moves_to_another_replica_when_one_dies(
    discovery_factory: DiscoveryFactory, read_endpoint: EndpointReader, store: Store
) -> None:
    first, second = await discovery_factory(), await discovery_factory()
    registrar = Registrar([first.grpc_target, second.grpc_target], SPEC, "127.1.0.9")
    registrar.start()
    key = endpoint_key(HOST, ENDPOINT_ID)
    try:
        await asyncio.wait_for(registrar.registered.wait(), 10)
        assert registrar.registrations == 1
        await first.kill()
        await wait_for(lambda: registrar.registrations == 2 and registrar.registered.is_set(),
                       timeout=10, message="a registration with the second replica")  # fmt: skip
        stored = await store.get(key)
        assert stored is not None
        # The dead replica's lease expires within the TTL: the key, now on the new
        # replica's lease, must not be deleted with it.
        deletes = []
        async with store.watch(key, start_revision=stored.mod_revision + 1) as watch:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LEASE_TTL + 1):
                    async for item in watch:
                        if isinstance(item, Event) and item.type is EventType.DELETE:
                            deletes.append(item)
        assert deletes == []
        assert await read_endpoint(HOST, ENDPOINT_ID) is not None
    finally:
        await registrar.stop()
    assert await read_endpoint(HOST, ENDPOINT_ID) is None


async def test_gives_up_when_no_replica_answers_by_the_deadline(ports: PortAllocator) -> None:
    nowhere = f"127.0.0.1:{ports.take()}"
    registrar = Registrar([nowhere], SPEC, "127.1.0.9", first_deadline=1.0)
    started = time.monotonic()
    with pytest.raises(RegistrationError, match=r"no discovery replica registered .* within 1s"):
        await asyncio.wait_for(registrar.start(), 10)
    assert time.monotonic() - started < 5


async def test_a_refused_workload_is_fatal(discovery: ServiceProcess) -> None:
    registrar = Registrar([discovery.grpc_target], SPEC, "not-an-address")
    with pytest.raises(RegistrationError, match="refused the workload: INVALID_ARGUMENT"):
        await asyncio.wait_for(registrar.start(), 10)
