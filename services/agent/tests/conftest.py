"""The agent's tests run the real discovery service (a process on a real etcd) and read what
it wrote to etcd, as production does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest_asyncio

from mizzen.registry import Endpoint, decode_endpoint, endpoint_key
from mizzen.store import Store

EndpointReader = Callable[[str, str], Awaitable[Endpoint | None]]


@pytest_asyncio.fixture
async def read_endpoint(store: Store) -> EndpointReader:
    """``await read_endpoint(hostname, "<namespace>.<workload>")``: the stored endpoint."""

    async def read(hostname: str, endpoint_id: str) -> Endpoint | None:
        kv = await store.get(endpoint_key(hostname, endpoint_id))
        return decode_endpoint(kv.value) if kv is not None else None

    return read


@pytest_asyncio.fixture
async def store(etcd_store: Store) -> Store:
    """A client of the test's etcd, to read what discovery wrote."""
    return etcd_store
