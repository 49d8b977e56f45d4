"""One registration stream against a real discovery replica: what the session reports, how its
heartbeats reach the registry, and what each way of ending it does to the registration."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
import pytest_asyncio
from grpc import aio

from mizzen.launcher import ServiceProcess
from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.registration import NoAnswer, RegistrationSession, StreamEnded
from mizzen.registry import Endpoint, Health, endpoint_key
from mizzen.store import Store
from mizzen.testing import wait_for
from mizzen.testing.plugin import DISCOVERY_LEASE_TTL as LEASE_TTL

EndpointReader = Callable[[], Awaitable[Endpoint | None]]
HOST = "reviews.default.svc.cluster.local"
ENDPOINT_ID = "default.reviews-v1"


@pytest_asyncio.fixture
async def channel(discovery: ServiceProcess) -> AsyncIterator[aio.Channel]:
    """A channel to the test's discovery replica."""
    async with aio.insecure_channel(discovery.grpc_target) as opened:
        yield opened


async def test_open_heartbeat_and_deregister(
    discovery: ServiceProcess,
    channel: aio.Channel,
    workload: pb.Workload,
    store: Store,
    read_endpoint: EndpointReader,
) -> None:
    session = await RegistrationSession.open(channel, workload, target=discovery.grpc_target)
    assert list(session.registered.hostnames) == [HOST]
    assert session.ttl == LEASE_TTL
    assert session.heartbeat_interval == pytest.approx(LEASE_TTL / 3, abs=0.01)
    assert session.target == discovery.grpc_target
    assert session.replica == session.registered.replica != ""
    stored = await store.get(endpoint_key(HOST, ENDPOINT_ID))
    assert stored is not None
    assert stored.lease == int(session.registration_id, 16)

    assert await session.send_heartbeat() == 1
    await session.heartbeat(pb.HEALTH_DRAINING)  # acknowledged: the health is stored
    endpoint = await read_endpoint()
    assert endpoint is not None
    assert endpoint.health is Health.DRAINING
    assert not session.ended

    await session.deregister()
    assert session.ended
    assert session.deregistered
    assert await read_endpoint() is None


async def test_keep_alive_holds_the_registration_and_sends_health_changes(
    channel: aio.Channel, workload: pb.Workload, store: Store, read_endpoint: EndpointReader
) -> None:
    session = await RegistrationSession.open(channel, workload)
    stored = await store.get(endpoint_key(HOST, ENDPOINT_ID))
    assert stored is not None
    health = pb.HEALTH_HEALTHY
    wake, stop = asyncio.Event(), asyncio.Event()
    keeping = asyncio.create_task(session.keep_alive(health=lambda: health, wake=wake, stop=stop))

    health = pb.HEALTH_UNHEALTHY
    wake.set()

    async def unhealthy() -> bool:
        endpoint = await read_endpoint()
        return endpoint is not None and endpoint.health is Health.UNHEALTHY

    await wait_for(unhealthy, timeout=5, message="the health change to reach etcd")
    assert not wake.is_set()  # keep_alive took the wake-up
    # Past one TTL (the duration under test, not a synchronization), the registration
    # stands on the same lease.
    await asyncio.sleep(1.5 * LEASE_TTL)
    assert not keeping.done()
    kept = await store.get(endpoint_key(HOST, ENDPOINT_ID))
    assert kept is not None
    assert kept.lease == stored.lease

    stop.set()
    await asyncio.wait_for(keeping, 5)
    assert not session.ended  # stopping keep_alive leaves the stream open
    await session.close()  # half-closed without a Deregister: removed as the stream ends
    assert not session.deregistered
    assert await read_endpoint() is None


async def test_an_invalid_workload_ends_the_stream_on_open(
    channel: aio.Channel, workload: pb.Workload, store: Store
) -> None:
    workload.address = "not-an-address"
    with pytest.raises(StreamEnded) as info:
        await RegistrationSession.open(channel, workload)
    assert info.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert "workload.address" in info.value.reason
    assert (await store.range("/mizzen/registry/")).kvs == ()


async def test_a_frozen_replica_gives_no_answer(frozen: str, workload: pb.Workload) -> None:
    started = time.monotonic()
    async with aio.insecure_channel(frozen) as channel:
        with pytest.raises(NoAnswer, match=r"no answer within 0\.5s") as info:
            await RegistrationSession.open(channel, workload, timeout=0.5)
    assert info.value.code is None
    assert time.monotonic() - started < 3


async def test_the_end_of_the_stream_is_noticed_while_idle(
    channel: aio.Channel, workload: pb.Workload
) -> None:
    session = await RegistrationSession.open(channel, workload)
    # No heartbeat: discovery ends the stream after one TTL, and the session sees it alone.
    with pytest.raises(StreamEnded) as info:
        await asyncio.wait_for(session.wait_ended(), LEASE_TTL + 3)
    assert info.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    assert session.ended
    with pytest.raises(StreamEnded) as again:
        await session.heartbeat()
    assert again.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
    with pytest.raises(StreamEnded):
        await session.keep_alive()


async def test_abort_drops_the_registration(
    channel: aio.Channel, workload: pb.Workload, read_endpoint: EndpointReader
) -> None:
    session = await RegistrationSession.open(channel, workload)
    assert await read_endpoint() is not None
    started = time.monotonic()
    session.abort()
    with pytest.raises(StreamEnded) as info:
        await session.wait_ended()
    assert info.value.code is grpc.StatusCode.CANCELLED
    await wait_for(lambda: _gone(read_endpoint), timeout=LEASE_TTL, message="endpoint removed")
    assert time.monotonic() - started < LEASE_TTL / 2


async def _gone(read_endpoint: EndpointReader) -> bool:
    return await read_endpoint() is None
