"""One contract suite, two implementations: the ``backend`` fixture runs each test on both.

``backend`` is a :class:`~mizzen.store.testing.StoreServer`: it opens clients on one server
and injects the faults the contract must survive (``kill`` as ``kill -9``, ``start``,
``freeze`` as SIGSTOP, ``thaw``). For etcd they act on the real process from the ``etcd``
fixture of :mod:`mizzen.testing`; for memory they are the MemoryServer's hooks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from mizzen.launcher import EtcdProcess
from mizzen.store import Store
from mizzen.store.testing import EtcdStoreServer, MemoryStoreServer, StoreServer


@pytest.fixture(params=["memory", "etcd"])
def server(request: pytest.FixtureRequest) -> EtcdProcess | None:
    """Which implementation a contract test runs on: the etcd process, or None for memory.

    A sync fixture because only from one can the async ``etcd`` fixture be requested lazily.
    """
    if request.param == "etcd":
        process: EtcdProcess = request.getfixturevalue("etcd")
        return process
    return None


@pytest_asyncio.fixture
async def backend(server: EtcdProcess | None) -> AsyncIterator[StoreServer]:
    """The server for this test (a real etcd, or a MemoryServer) with its fault hooks."""
    chosen: StoreServer = EtcdStoreServer(server) if server is not None else MemoryStoreServer()
    try:
        yield chosen
    finally:
        await chosen.close()


@pytest_asyncio.fixture
async def store(backend: StoreServer) -> Store:
    """A client of the test's server (parametrized: memory, etcd)."""
    return await backend.open()
