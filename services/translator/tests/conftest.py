"""The translator runs as its own process against a real etcd, as in production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from grpc import aio

from mizzen.launcher import EtcdProcess, PortAllocator, ServiceProcess
from mizzen.protos.config.v1 import config_pb2_grpc


@pytest_asyncio.fixture
async def translator(
    etcd: EtcdProcess, ports: PortAllocator, tmp_path: Path
) -> AsyncIterator[ServiceProcess]:
    """A running translator service on the test's etcd."""
    process = ServiceProcess(
        "translator",
        tmp_path,
        grpc_port=ports.take(),
        metrics_port=ports.take(),
        env={"MIZZEN_TRANSLATOR_STORE_URL": f"etcd://{etcd.endpoint}"},
    )
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


@pytest_asyncio.fixture
async def config_client(
    translator: ServiceProcess,
) -> AsyncIterator[config_pb2_grpc.ConfigServiceStub]:
    """A ConfigService client of the test's translator."""
    async with aio.insecure_channel(translator.grpc_target) as channel:
        yield config_pb2_grpc.ConfigServiceStub(channel)
