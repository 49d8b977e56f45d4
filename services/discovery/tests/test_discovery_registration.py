"""Lease-bound registration over gRPC, served by a real discovery process on a real etcd."""

from __future__ import annotations

import asyncio
import sys
import time

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from grpc import aio

from mizzen.discovery.testing import TEST_TTL as TTL
from mizzen.discovery.testing import read_endpoints, read_service, workload
from mizzen.launcher import ServiceProcess
from mizzen.launcher.probe import http_get
from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.protos.registry.v1 import registration_pb2_grpc
from mizzen.registration import RegistrationSession, StreamEnded
from mizzen.registry import Health, Protocol, ServicePort
from mizzen.store import Store
from mizzen.testing import wait_for

REVIEWS = "reviews.default.svc.cluster.local"


def violations(error: aio.AioRpcError) -> dict[str, str]:
    """The BadRequest field violations an INVALID_ARGUMENT status carries, by field."""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            found = error_details_pb2.BadRequest()
            assert status.details[0].Unpack(found)
            return {v.field: v.description for v in found.field_violations}
    return {}


async def test_register_writes_service_and_leased_endpoint(
    channel: aio.Channel, store: Store
) -> None:
    session = await RegistrationSession.open(channel, workload(labels={"app": "reviews"}))
    assert list(session.registered.hostnames) == [REVIEWS]
    assert session.ttl == TTL
    assert session.heartbeat_interval == pytest.approx(TTL / 3, abs=0.01)

    service = await read_service(store, REVIEWS)
    assert service is not None
    assert (service.namespace, service.source) == ("default", "agent")
    assert service.ports == (ServicePort(9080, Protocol.HTTP, "http-9080"),)
    endpoints = await read_endpoints(store, REVIEWS)
    endpoint, kv = endpoints["default.reviews-v1"]
    assert (endpoint.address, dict(endpoint.ports), dict(endpoint.labels)) == (
        "127.0.0.11",
        {9080: 9080},
        {"app": "reviews"},
    )
    assert (endpoint.health, endpoint.source, endpoint.service_account) == (
        Health.HEALTHY,
        "agent",
        "default",
    )
    assert f"{kv.lease:016x}" == session.registered.registration_id

    # A second workload of the service adds its port: the ports are merged, not replaced.
    other = await RegistrationSession.open(
        channel, workload("reviews-grpc", port=9090, protocol="grpc", address="127.0.0.12")
    )
    merged = await read_service(store, REVIEWS)
    assert merged is not None
    assert [(p.number, p.protocol) for p in merged.ports] == [
        (9080, Protocol.HTTP),
        (9090, Protocol.GRPC),
    ]
    assert set(await read_endpoints(store, REVIEWS)) == {
        "default.reviews-v1",
        "default.reviews-grpc",
    }
    await other.deregister()
    await session.deregister()


async def test_list_rpcs_and_metrics_show_workloads_and_services(
    discovery: ServiceProcess,
    channel: aio.Channel,
    client: registration_pb2_grpc.RegistrationServiceStub,
) -> None:
    session = await RegistrationSession.open(channel, workload())
    other = await RegistrationSession.open(
        channel, workload("ratings-v1", service="ratings", namespace="shop", address="127.0.0.13")
    )
    listing = await client.ListWorkloads(pb.ListWorkloadsRequest())
    assert [(w.workload.namespace, w.workload.name, w.source) for w in listing.workloads] == [
        ("default", "reviews-v1", "agent"),
        ("shop", "ratings-v1", "agent"),
    ]
    reviews = listing.workloads[0].workload
    assert reviews.address == "127.0.0.11"
    assert [(s.service, [(p.number, p.protocol) for p in s.ports]) for s in reviews.services] == [
        (REVIEWS, [(9080, "HTTP")])
    ]
    shop = await client.ListWorkloads(pb.ListWorkloadsRequest(namespace="shop"))
    assert [w.workload.name for w in shop.workloads] == ["ratings-v1"]

    services = await client.ListServices(pb.ListServicesRequest())
    assert [(s.hostname, s.endpoints, s.healthy_endpoints) for s in services.services] == [
        ("ratings.shop.svc.cluster.local", 1, 1),
        (REVIEWS, 1, 1),
    ]
    status, metrics = await http_get(discovery.host, discovery.metrics_port, "/metrics")
    assert status == 200
    assert b"mizzen_discovery_registrations 2.0" in metrics
    await other.deregister()
    await session.deregister()


async def test_deregister_removes_endpoints_at_once_and_keeps_the_service(
    channel: aio.Channel, store: Store
) -> None:
    session = await RegistrationSession.open(channel, workload())
    assert await read_endpoints(store, REVIEWS)
    started = time.monotonic()
    await session.deregister()
    # The revoke happens before discovery answers Deregistered: nothing to wait for.
    assert await read_endpoints(store, REVIEWS) == {}
    assert time.monotonic() - started < TTL / 2
    assert await read_service(store, REVIEWS) is not None


async def test_heartbeats_keep_the_registration_and_change_health(
    channel: aio.Channel, store: Store
) -> None:
    session = await RegistrationSession.open(channel, workload())
    lease = (await read_endpoints(store, REVIEWS))["default.reviews-v1"][1].lease
    deadline = time.monotonic() + 1.5 * TTL
    while time.monotonic() < deadline:  # heartbeats at the protocol's cadence, past one TTL
        await asyncio.sleep(session.heartbeat_interval)
        await session.heartbeat()
    endpoint, kv = (await read_endpoints(store, REVIEWS))["default.reviews-v1"]
    assert (endpoint.health, kv.lease) == (Health.HEALTHY, lease)

    await session.heartbeat(pb.HEALTH_DRAINING)
    endpoint, kv = (await read_endpoints(store, REVIEWS))["default.reviews-v1"]
    assert (endpoint.health, kv.lease) == (Health.DRAINING, lease)
    await session.deregister()


async def test_silent_agent_is_dropped_within_the_ttl(channel: aio.Channel, store: Store) -> None:
    session = await RegistrationSession.open(channel, workload())
    started = time.monotonic()
    # The agent keeps its connection open but sends nothing more.
    await wait_for(
        lambda: _no_endpoints(store), timeout=TTL + 2, message="silent agent's endpoint removed"
    )
    assert time.monotonic() - started <= TTL + 1
    with pytest.raises(StreamEnded) as info:
        await session.heartbeat()
    assert info.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


AGENT = """
import asyncio, sys
from grpc import aio
from mizzen.discovery.testing import workload
from mizzen.registration import RegistrationSession

async def main():
    async with aio.insecure_channel(sys.argv[1]) as channel:
        session = await RegistrationSession.open(channel, workload())
        print("registered", flush=True)
        await session.keep_alive()

asyncio.run(main())
"""


async def test_killed_agent_is_dropped_promptly(discovery_target: str, store: Store) -> None:
    agent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", AGENT, discovery_target, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert agent.stdout is not None
        line = await asyncio.wait_for(agent.stdout.readline(), 30)
        assert line.strip() == b"registered"
        assert await read_endpoints(store, REVIEWS)
        started = time.monotonic()
        agent.kill()  # kill -9: no Deregister, the kernel just closes its socket
        await agent.wait()
        await wait_for(lambda: _no_endpoints(store), timeout=TTL, message="endpoint removed")
        assert time.monotonic() - started < TTL / 2
    finally:
        if agent.returncode is None:
            agent.kill()
            await agent.wait()


async def test_closing_the_channel_abruptly_drops_the_agent(
    discovery_target: str, store: Store
) -> None:
    channel = aio.insecure_channel(discovery_target)
    await RegistrationSession.open(channel, workload())
    assert await read_endpoints(store, REVIEWS)
    started = time.monotonic()
    await channel.close(grace=None)
    await wait_for(lambda: _no_endpoints(store), timeout=TTL, message="endpoint removed")
    assert time.monotonic() - started < TTL / 2


async def test_invalid_registration_names_every_field(
    client: registration_pb2_grpc.RegistrationServiceStub, store: Store
) -> None:
    bad = pb.Workload(
        name="Reviews_V1",
        address="300.1.1.1",
        labels={"app": "bad value!"},
        services=[
            pb.ServedService(
                service="reviews",
                ports=[pb.ServedPort(number=0), pb.ServedPort(number=9080, protocol="SMTP")],
            ),
            pb.ServedService(service="ratings", ports=[]),
        ],
    )
    call = client.Register()
    await call.write(pb.RegisterRequest(workload=bad))
    with pytest.raises(aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    found = violations(info.value)
    assert set(found) == {
        "workload.name",
        "workload.address",
        "workload.labels[app]",
        "workload.services[0].ports[0].number",
        "workload.services[0].ports[1].protocol",
        "workload.services[1].ports",
    }
    assert "1..65535" in found["workload.services[0].ports[0].number"]
    assert "workload.services[0].ports[0].number" in (info.value.details() or "")
    assert (await store.range("/mizzen/registry/")).kvs == ()


async def test_a_stream_must_start_with_a_workload(
    client: registration_pb2_grpc.RegistrationServiceStub,
) -> None:
    call = client.Register()
    await call.write(pb.RegisterRequest(heartbeat=pb.Heartbeat(sequence=1)))
    with pytest.raises(aio.AioRpcError) as info:
        await call.read()
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "must start with a workload" in (info.value.details() or "")


async def _no_endpoints(store: Store) -> bool:
    return await read_endpoints(store, REVIEWS) == {}
