"""Discovery runs as its own process against a real etcd, as in production; tests talk to it
over gRPC and read what it wrote straight from etcd."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from grpc import aio

from mizzen.discovery.testing import TEST_TTL
from mizzen.launcher import EtcdProcess, ServiceProcess
from mizzen.protos.registry.v1 import registration_pb2_grpc
from mizzen.store import Store, open_store
from mizzen.testing.plugin import ServiceFactory


@pytest.fixture
def discovery_env(etcd: EtcdProcess) -> dict[str, str]:
    """Settings of a discovery replica on the test's etcd, with short leases."""
    return {
        "MIZZEN_DISCOVERY_STORE_URL": f"etcd://{etcd.endpoint}",
        "MIZZEN_DISCOVERY_LEASE_TTL_SECONDS": str(TEST_TTL),
    }


@pytest_asyncio.fixture
async def discovery(
    discovery_env: dict[str, str], service_factory: ServiceFactory
) -> ServiceProcess:
    """A running discovery replica."""
    return await service_factory("discovery", env=discovery_env)


@pytest.fixture
def discovery_target(discovery: ServiceProcess) -> str:
    """``host:port`` of the test's discovery replica."""
    return discovery.grpc_target


@pytest_asyncio.fixture
async def channel(discovery_target: str) -> AsyncIterator[aio.Channel]:
    """A channel to the test's discovery replica."""
    async with aio.insecure_channel(discovery_target) as opened:
        yield opened


@pytest_asyncio.fixture
async def client(channel: aio.Channel) -> registration_pb2_grpc.RegistrationServiceStub:
    """A RegistrationService client of the test's discovery replica."""
    return registration_pb2_grpc.RegistrationServiceStub(channel)


@pytest_asyncio.fixture
async def store(etcd: EtcdProcess) -> AsyncIterator[Store]:
    """A client of the test's etcd, to read what discovery wrote."""
    async with await open_store(f"etcd://{etcd.endpoint}") as opened:
        yield opened
