"""Registrations across discovery replicas: a dead replica's registrations expire within the
lease TTL, and agents that register again with another replica keep their endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc import aio

from mizzen.discovery.testing import TEST_TTL as TTL
from mizzen.discovery.testing import read_endpoints, workload
from mizzen.launcher import ServiceProcess
from mizzen.registration import Registrar, RegistrationSession, StreamEnded
from mizzen.registry import endpoint_key
from mizzen.store import Event, EventType, LeaseExpired, Reset, Store
from mizzen.testing import wait_for
from mizzen.testing.plugin import ServiceFactory

REVIEWS = "reviews.default.svc.cluster.local"
ENDPOINT_KEY = endpoint_key(REVIEWS, "default.reviews-v1")


@contextlib.asynccontextmanager
async def deletions(store: Store, key: str) -> AsyncIterator[list[int]]:
    """Collects the revisions at which ``key`` is deleted while the block runs."""
    seen: list[int] = []
    start = (await store.range(key)).revision + 1

    async def collect() -> None:
        async with store.watch(key, start_revision=start) as watch:
            async for item in watch:
                if isinstance(item, Event) and item.type is EventType.DELETE:
                    seen.append(item.revision)
                elif isinstance(item, Reset) and not item.kvs:
                    seen.append(item.revision)  # compacted meanwhile, and the key is gone

    task = asyncio.create_task(collect())
    try:
        yield seen
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def lease_gone(store: Store, lease: int) -> bool:
    """Whether etcd no longer has ``lease`` (a put with it is refused)."""
    try:
        await store.put("/test/probe", b"", lease=lease)
    except LeaseExpired:
        return True
    return False


async def test_killed_replica_drops_its_registrations_within_the_ttl(
    discovery: ServiceProcess,
    discovery_env: dict[str, str],
    service_factory: ServiceFactory,
    store: Store,
) -> None:
    second = await service_factory("discovery", env=discovery_env)
    async with aio.insecure_channel(discovery.grpc_target) as channel:
        session = await RegistrationSession.open(channel, workload())
        keeping = asyncio.create_task(session.keep_alive())
        assert await read_endpoints(store, REVIEWS)
        killed = time.monotonic()
        await discovery.kill()  # kill -9: nobody refreshes its leases any more
        with pytest.raises(StreamEnded) as info:
            await keeping
        assert info.value.code is grpc.StatusCode.UNAVAILABLE
    await wait_for(
        lambda: _no_endpoints(store), timeout=TTL + 2, message="dead replica's endpoint expired"
    )
    assert time.monotonic() - killed <= TTL + 1

    async with aio.insecure_channel(second.grpc_target) as channel:
        again = await RegistrationSession.open(channel, workload())
        endpoints = await read_endpoints(store, REVIEWS)
        assert f"{endpoints['default.reviews-v1'][1].lease:016x}" == (
            again.registered.registration_id
        )
        await again.deregister()


@pytest.mark.parametrize("how", ["kill", "stop"])
async def test_agent_moves_to_another_replica_without_losing_its_endpoints(
    how: str,
    discovery: ServiceProcess,
    discovery_env: dict[str, str],
    service_factory: ServiceFactory,
    store: Store,
) -> None:
    second = await service_factory("discovery", env=discovery_env)
    targets = [discovery.grpc_target, second.grpc_target]
    async with Registrar(targets, workload()) as registrar:
        await asyncio.wait_for(registrar.registered.wait(), 10)
        assert registrar.target == discovery.grpc_target
        first = registrar.registration
        assert first is not None
        old_lease = int(first.registration_id, 16)
        async with deletions(store, ENDPOINT_KEY) as deleted:
            if how == "kill":
                await discovery.kill()
            else:
                await discovery.stop()  # graceful: streams end UNAVAILABLE, leases not revoked
            await wait_for(
                lambda: registrar.registrations == 2 and registrar.registered.is_set(),
                timeout=10,
                message="a registration with the second replica",
            )
            assert registrar.target == second.grpc_target
            moved = registrar.registration
            assert moved is not None
            endpoints = await read_endpoints(store, REVIEWS)
            assert endpoints["default.reviews-v1"][1].lease == int(moved.registration_id, 16)
            # The first replica's lease expires; the endpoint, re-attached, stays.
            await wait_for(
                lambda: lease_gone(store, old_lease), timeout=TTL + 2, message="old lease expiry"
            )
            assert await read_endpoints(store, REVIEWS)
        assert deleted == []
    # Leaving the registrar deregisters.
    assert await read_endpoints(store, REVIEWS) == {}


async def _no_endpoints(store: Store) -> bool:
    return await read_endpoints(store, REVIEWS) == {}
