"""Cross-service tests: real etcd, NATS, Envoy and Mizzen services as processes."""

from __future__ import annotations

import pytest_asyncio

from mizzen.launcher import EtcdProcess, ServiceProcess
from mizzen.testing.plugin import ServiceFactory


@pytest_asyncio.fixture
async def translator(etcd: EtcdProcess, service_factory: ServiceFactory) -> ServiceProcess:
    """A running translator service on the test's etcd."""
    return await service_factory(
        "translator", env={"MIZZEN_TRANSLATOR_STORE_URL": f"etcd://{etcd.endpoint}"}
    )
