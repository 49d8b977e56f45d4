"""The translator runs as its own process against a real etcd, as in production."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from grpc import aio

from mizzen.launcher import EtcdProcess, ServiceProcess
from mizzen.protos.config.v1 import config_pb2_grpc
from mizzen.testing.plugin import ServiceFactory


@pytest_asyncio.fixture
async def translator(etcd: EtcdProcess, service_factory: ServiceFactory) -> ServiceProcess:
    """A running translator service on the test's etcd."""
    return await service_factory(
        "translator", env={"MIZZEN_TRANSLATOR_STORE_URL": f"etcd://{etcd.endpoint}"}
    )


@pytest_asyncio.fixture
async def config_client(
    translator: ServiceProcess,
) -> AsyncIterator[config_pb2_grpc.ConfigServiceStub]:
    """A ConfigService client of the test's translator."""
    async with aio.insecure_channel(translator.grpc_target) as channel:
        yield config_pb2_grpc.ConfigServiceStub(channel)
