"""The agent's part of registration, against a real discovery replica: its workload as
discovery stores it, and registration failures as the agent's errors. (The registration
client itself is tested in libs/registration.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from mizzen.agent import (
    AgentError,
    Registrar,
    RegistrationError,
    WorkloadSpec,
    build_services,
    workload_message,
)
from mizzen.agent.registration import raise_for_registration
from mizzen.launcher import PortAllocator, ServiceProcess
from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.registry import Endpoint, Health

EndpointReader = Callable[[str, str], Awaitable[Endpoint | None]]

HOST = "reviews.default.svc.cluster.local"
ENDPOINT_ID = "default.reviews-v2"
SPEC = WorkloadSpec(
    name="reviews-v2",
    command=("app",),
    services=build_services(["reviews"], ["9080:19080"]),
    labels={"app": "reviews", "version": "v2"},
    service_account="bookinfo-reviews",
)


async def test_the_workload_registers_as_its_spec_says(
    discovery: ServiceProcess, read_endpoint: EndpointReader
) -> None:
    workload = workload_message(SPEC, "127.1.0.9", pb.HEALTH_UNHEALTHY)
    async with Registrar([discovery.grpc_target], workload) as registrar:
        await asyncio.wait_for(registrar.registered.wait(), 10)
        endpoint = await read_endpoint(HOST, ENDPOINT_ID)
        assert endpoint is not None
        assert endpoint.address == "127.1.0.9"
        assert dict(endpoint.ports) == {9080: 9080}  # its Envoy's inbound listener
        assert dict(endpoint.labels) == {"app": "reviews", "version": "v2"}
        assert endpoint.service_account == "bookinfo-reviews"
        assert endpoint.health is Health.UNHEALTHY
        task = registrar.start()  # the running task (start() starts once)
    assert task.done()
    raise_for_registration(task)  # a clean end raises nothing
    assert await read_endpoint(HOST, ENDPOINT_ID) is None


async def test_no_replica_by_the_deadline_is_an_agent_error(ports: PortAllocator) -> None:
    nowhere = f"127.0.0.1:{ports.take()}"
    workload = workload_message(SPEC, "127.1.0.9", pb.HEALTH_HEALTHY)
    registrar = Registrar([nowhere], workload, first_deadline=1.0)
    task = registrar.start()
    await asyncio.wait({task}, timeout=10)
    with pytest.raises(
        RegistrationError,
        match=r"no discovery replica registered the workload within 1s .*; is discovery "
        r"running\? Point at it with --discovery HOST:PORT$",
    ) as info:
        raise_for_registration(task)
    assert isinstance(info.value, AgentError)


async def test_a_refused_workload_is_an_agent_error(discovery: ServiceProcess) -> None:
    workload = workload_message(SPEC, "not-an-address", pb.HEALTH_HEALTHY)
    task = Registrar([discovery.grpc_target], workload).start()
    await asyncio.wait({task}, timeout=10)
    with pytest.raises(RegistrationError, match="refused the workload: INVALID_ARGUMENT"):
        raise_for_registration(task)
