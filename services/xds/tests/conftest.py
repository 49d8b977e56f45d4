"""xds runs as its own process against a real etcd, serving real Envoys (helpers in
:mod:`mizzen.xds.testing`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio

from mizzen.launcher import EtcdProcess, PortAllocator, ServiceProcess
from mizzen.store import EtcdStore, Store
from mizzen.testing.plugin import EnvoyFactory, ServiceFactory
from mizzen.xds.testing import (
    CLASS_WAIT,
    ROUTE_HOLD,
    STATUS_TTL,
    Mesh,
    Snapshots,
    Upstream,
    XdsFactory,
)


@pytest_asyncio.fixture
async def upstreams() -> AsyncIterator[Callable[[str], Awaitable[Upstream]]]:
    """``await upstreams("a")`` starts an upstream named ``a``; all are closed at teardown."""
    started: list[Upstream] = []

    async def start(name: str) -> Upstream:
        upstream = Upstream(name)
        await upstream.start()
        started.append(upstream)
        return upstream

    yield start
    for upstream in started:
        await upstream.close()


@pytest_asyncio.fixture
async def store(etcd: EtcdProcess) -> AsyncIterator[Store]:
    """A client of the test's etcd."""
    client = await EtcdStore.connect([etcd.endpoint])
    try:
        yield client
    finally:
        await client.close()


@pytest_asyncio.fixture
async def xds_factory(etcd: EtcdProcess, service_factory: ServiceFactory) -> XdsFactory:
    """``await xds_factory("xds-a")`` runs an xds replica of that name on the test's etcd,
    with a proxy status lease of :data:`STATUS_TTL` seconds, routes held at most
    :data:`ROUTE_HOLD` seconds for clusters to warm, and a class asked for again after
    :data:`CLASS_WAIT` seconds without a translation."""

    async def start(replica: str) -> ServiceProcess:
        env = {
            "MIZZEN_XDS_STORE_URL": f"etcd://{etcd.endpoint}",
            "MIZZEN_XDS_REPLICA_ID": replica,
            "MIZZEN_XDS_PROXY_STATUS_TTL_SECONDS": str(STATUS_TTL),
            "MIZZEN_XDS_STATUS_FLUSH_SECONDS": "0.01",
            "MIZZEN_XDS_ROUTE_HOLD_SECONDS": str(ROUTE_HOLD),
            "MIZZEN_XDS_CLASS_WAIT_SECONDS": str(CLASS_WAIT),
            "MIZZEN_LOG_LEVEL": "debug",
        }
        return await service_factory("xds", env=env, name=replica)

    return start


@pytest_asyncio.fixture
async def mesh(
    store: Store, ports: PortAllocator, envoy_factory: EnvoyFactory, xds_factory: XdsFactory
) -> Mesh:
    """Snapshots, a store client, Envoys and xds replicas for one test."""
    return Mesh(store, Snapshots(store), ports, envoy_factory, xds_factory)
