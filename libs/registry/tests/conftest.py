"""The registry lib's tests run against a real etcd where they touch a store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from mizzen.launcher import EtcdProcess
from mizzen.store import Store, open_store


@pytest_asyncio.fixture
async def store(etcd: EtcdProcess) -> AsyncIterator[Store]:
    """A client of the test's etcd."""
    async with await open_store(f"etcd://{etcd.endpoint}") as opened:
        yield opened
