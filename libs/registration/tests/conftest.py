"""The registration client's tests talk to the real discovery service (a process on a real
etcd) and read what it wrote to etcd, as production does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from mizzen.launcher import PortAllocator
from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.registry import Endpoint, decode_endpoint, endpoint_key
from mizzen.store import Store

HOST = "reviews.default.svc.cluster.local"
ENDPOINT_ID = "default.reviews-v1"

EndpointReader = Callable[[], Awaitable[Endpoint | None]]


@pytest.fixture
def workload() -> pb.Workload:
    """A workload serving port 9080 of the reviews service: endpoint ``ENDPOINT_ID`` of
    ``HOST``, at 127.1.0.9 (a fresh message: tests may change it)."""
    return pb.Workload(
        name="reviews-v1",
        address="127.1.0.9",
        labels={"app": "reviews"},
        services=[pb.ServedService(service="reviews", ports=[pb.ServedPort(number=9080)])],
    )


@pytest_asyncio.fixture
async def read_endpoint(store: Store) -> EndpointReader:
    """``await read_endpoint()``: the stored endpoint of :func:`reviews`, if any."""

    async def read() -> Endpoint | None:
        kv = await store.get(endpoint_key(HOST, ENDPOINT_ID))
        return decode_endpoint(kv.value) if kv is not None else None

    return read


@pytest.fixture
def frozen_connections() -> list[asyncio.StreamWriter]:
    """The connections the test's :func:`frozen` replica accepted (and holds)."""
    return []


@pytest_asyncio.fixture
async def frozen(
    ports: PortAllocator, frozen_connections: list[asyncio.StreamWriter]
) -> AsyncIterator[str]:
    """``HOST:PORT`` of a frozen replica: it accepts connections and never says a word."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frozen_connections.append(writer)

    port = ports.take()
    server = await asyncio.start_server(hold, "127.0.0.1", port)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.close()
        for writer in frozen_connections:
            writer.close()
        await server.wait_closed()


@pytest_asyncio.fixture
async def store(etcd_store: Store) -> Store:
    """A client of the test's etcd, to read what discovery wrote."""
    return etcd_store
