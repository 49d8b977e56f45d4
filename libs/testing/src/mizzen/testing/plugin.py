"""Pytest fixtures that start real etcd, nats-server and Envoy on free loopback ports.

Every process is stopped in the fixture's teardown, and bound to the test process with
``PR_SET_PDEATHSIG`` so that an interrupted or killed test run leaves none behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from mizzen.launcher import EnvoyProcess, EtcdProcess, NatsProcess, PortAllocator, ServiceProcess
from mizzen.store import Store, open_store

EnvoyFactory = Callable[..., Awaitable[EnvoyProcess]]
ServiceFactory = Callable[..., Awaitable[ServiceProcess]]


@pytest.fixture
def ports() -> PortAllocator:
    """A port allocator for this test: each port it hands out is free and distinct."""
    return PortAllocator()


@pytest_asyncio.fixture
async def etcd(tmp_path: Path, ports: PortAllocator) -> AsyncIterator[EtcdProcess]:
    """A running single-member etcd with fast raft timings; killed and restartable by tests."""
    process = EtcdProcess(tmp_path / "etcd", ports=ports)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


@pytest_asyncio.fixture
async def nats_server(tmp_path: Path, ports: PortAllocator) -> AsyncIterator[NatsProcess]:
    """A running nats-server with JetStream; killed and restartable by tests."""
    process = NatsProcess(tmp_path / "nats", ports=ports)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


async def rejections(envoy: EnvoyProcess) -> dict[str, int]:
    """The Envoy's ``*update_rejected`` counters (CDS, LDS, RDS, EDS, SDS) that are not zero."""
    return {name: value for name, value in (await envoy.stats()).items()
            if name.endswith("update_rejected") and value}  # fmt: skip


@pytest_asyncio.fixture
async def envoy_factory(
    request: pytest.FixtureRequest, tmp_path: Path, ports: PortAllocator
) -> AsyncIterator[EnvoyFactory]:
    """``await envoy_factory(bootstrap, admin_port=..., name=...)`` starts an Envoy.

    Every Envoy started through the factory is stopped at teardown. Before that, any NACK an
    Envoy recorded fails the test (a generated config that Envoy rejects is a bug), unless the
    test is marked ``@pytest.mark.expect_nacks`` because it provokes them on purpose.
    """
    started: list[EnvoyProcess] = []

    async def start(
        bootstrap: dict[str, Any], *, admin_port: int, name: str = "envoy", **kwargs: Any
    ) -> EnvoyProcess:
        process = EnvoyProcess(
            tmp_path / "envoy",
            bootstrap,
            admin_port=admin_port,
            name=f"{name}-{len(started)}",
            **kwargs,
        )
        started.append(process)
        await process.start()
        return process

    try:
        yield start
        if request.node.get_closest_marker("expect_nacks") is None:
            rejected = {p.name: await rejections(p) for p in started if p.running}
            rejected = {name: found for name, found in rejected.items() if found}
            if rejected:
                pytest.fail(f"Envoy rejected configuration (NACK): {rejected}")
    finally:
        for process in reversed(started):
            with contextlib.suppress(Exception):
                await process.stop()


@pytest_asyncio.fixture
async def service_factory(tmp_path: Path, ports: PortAllocator) -> AsyncIterator[ServiceFactory]:
    """``await service_factory("translator", env={...})`` starts ``python -m mizzen.<service>``
    on free gRPC and metrics ports and returns it once ``/readyz`` answers.

    Every service started through the factory is stopped at teardown.
    """
    started: list[ServiceProcess] = []

    async def start(
        service: str, *, env: dict[str, str] | None = None, name: str | None = None
    ) -> ServiceProcess:
        process = ServiceProcess(
            service, tmp_path / "services", grpc_port=ports.take(), metrics_port=ports.take(),
            env=env, name=name or f"{service}-{len(started)}",
        )  # fmt: skip
        started.append(process)
        await process.start()
        return process

    try:
        yield start
    finally:
        for process in reversed(started):
            with contextlib.suppress(Exception):
                await process.stop()


DISCOVERY_LEASE_TTL = 2
"""The registration lease TTL (seconds) of discovery replicas started by
:func:`discovery_factory`: short, so that tests of expiry are quick."""

DiscoveryFactory = Callable[[], Awaitable[ServiceProcess]]


@pytest_asyncio.fixture
async def discovery_factory(etcd: EtcdProcess, service_factory: ServiceFactory) -> DiscoveryFactory:
    """``await discovery_factory()`` starts one more discovery replica on the test's etcd, with
    a :data:`DISCOVERY_LEASE_TTL` registration lease."""

    async def start() -> ServiceProcess:
        return await service_factory("discovery", env={
            "MIZZEN_DISCOVERY_STORE_URL": f"etcd://{etcd.endpoint}",
            "MIZZEN_DISCOVERY_LEASE_TTL_SECONDS": str(DISCOVERY_LEASE_TTL),
        })  # fmt: skip

    return start


@pytest_asyncio.fixture
async def discovery(discovery_factory: DiscoveryFactory) -> ServiceProcess:
    """A running discovery replica on the test's etcd."""
    return await discovery_factory()


@pytest_asyncio.fixture
async def etcd_store(etcd: EtcdProcess) -> AsyncIterator[Store]:
    """A client of the test's etcd (to read what services wrote, or write what they read)."""
    async with await open_store(f"etcd://{etcd.endpoint}") as opened:
        yield opened
