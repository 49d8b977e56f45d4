"""The agent's tests run the real discovery service (a process on a real etcd) and read what
it wrote to etcd, as production does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio

from mizzen.launcher import EtcdProcess, ServiceProcess
from mizzen.registry import Endpoint, decode_endpoint, endpoint_key
from mizzen.store import Store, open_store
from mizzen.testing.plugin import ServiceFactory

LEASE_TTL = 2
"""Discovery's registration lease TTL in these tests (seconds)."""

DiscoveryFactory = Callable[[], Awaitable[ServiceProcess]]
EndpointReader = Callable[[str, str], Awaitable[Endpoint | None]]


@pytest_asyncio.fixture
async def discovery_factory(etcd: EtcdProcess, service_factory: ServiceFactory) -> DiscoveryFactory:
    """``await discovery_factory()`` starts one more discovery replica on the test's etcd."""

    async def start() -> ServiceProcess:
        return await service_factory("discovery", env={
            "MIZZEN_DISCOVERY_STORE_URL": f"etcd://{etcd.endpoint}",
            "MIZZEN_DISCOVERY_LEASE_TTL_SECONDS": str(LEASE_TTL),
        })  # fmt: skip

    return start


@pytest_asyncio.fixture
async def discovery(discovery_factory: DiscoveryFactory) -> ServiceProcess:
    """A running discovery replica."""
    return await discovery_factory()


@pytest_asyncio.fixture
async def store(etcd: EtcdProcess) -> AsyncIterator[Store]:
    """A client of the test's etcd, to read what discovery wrote."""
    async with await open_store(f"etcd://{etcd.endpoint}") as opened:
        yield opened


@pytest_asyncio.fixture
async def read_endpoint(store: Store) -> EndpointReader:
    """``await read_endpoint(hostname, "<namespace>.<workload>")``: the stored endpoint."""

    async def read(hostname: str, endpoint_id: str) -> Endpoint | None:
        kv = await store.get(endpoint_key(hostname, endpoint_id))
        return decode_endpoint(kv.value) if kv is not None else None

    return read
