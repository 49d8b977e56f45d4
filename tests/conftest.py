"""Cross-service tests: real etcd, NATS, Envoy and Mizzen services as processes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from mizzen.launcher import EtcdProcess, ServiceProcess
from mizzen.testing.mesh import Mesh
from mizzen.testing.plugin import ServiceFactory


@pytest_asyncio.fixture
async def translator(etcd: EtcdProcess, service_factory: ServiceFactory) -> ServiceProcess:
    """A running translator service on the test's etcd."""
    return await service_factory(
        "translator", env={"MIZZEN_TRANSLATOR_STORE_URL": f"etcd://{etcd.endpoint}"}
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mesh]:
    """One control plane (etcd, discovery, translator, xds) shared by a test module; each
    module adds its own workloads with ``await mesh.workload(...)``."""
    async with await Mesh.start(tmp_path_factory.mktemp("mesh")) as started:
        yield started
        await started.check_no_nacks()  # every module's Envoys: nothing rejected, ever


@pytest_asyncio.fixture(loop_scope="module")
async def mesh_guard(mesh: Mesh) -> AsyncIterator[Mesh]:
    """After the test: delete all config, wait until every Envoy is back to its defaults, and
    fail the test if any Envoy ever rejected config (its ``update_rejected`` stats or xds's
    ``lastNack``). Traffic test modules use it on every test (``pytestmark``)."""
    yield mesh
    try:
        await mesh.reset()
    finally:
        await mesh.check_no_nacks()
