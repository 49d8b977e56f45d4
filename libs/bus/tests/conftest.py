"""Fixtures for the bus tests: one contract suite run over the in-memory bus and real NATS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from uuid import uuid4

import pytest
import pytest_asyncio

from mizzen.bus import Bus, open_bus
from mizzen.launcher import NatsProcess

BusFactory = Callable[..., Awaitable[Bus]]


@pytest.fixture(params=["memory", "nats"])
def bus_url(request: pytest.FixtureRequest) -> str:
    """The URL of a fresh bus server: a private named in-memory broker, or a real
    nats-server (with JetStream) started for this test."""
    if request.param == "memory":
        return f"memory://test-{uuid4().hex}"
    server: NatsProcess = request.getfixturevalue("nats_server")
    return server.url


@pytest_asyncio.fixture
async def connect(bus_url: str) -> AsyncIterator[BusFactory]:
    """``await connect(**open_bus_options)`` opens another connection to the test's server;
    every bus opened is closed at teardown. Reconnection is retried every 50 ms."""
    opened: list[Bus] = []

    async def factory(**options: Any) -> Bus:
        options.setdefault("reconnect_wait", 0.05)
        options.setdefault("connect_timeout", 5.0)
        bus = await open_bus(bus_url, **options)
        opened.append(bus)
        return bus

    try:
        yield factory
    finally:
        for bus in reversed(opened):
            await bus.close(drain_timeout=2.0)


@pytest_asyncio.fixture
async def bus(connect: BusFactory) -> Bus:
    """One open bus on the test's server."""
    return await connect()
