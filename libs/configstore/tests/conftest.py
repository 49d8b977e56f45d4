"""Config store tests run on both store implementations: memory and a real etcd."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from mizzen.api import Resource, parse_documents
from mizzen.launcher import EtcdProcess
from mizzen.store import Store
from mizzen.store.testing import EtcdStoreServer, MemoryStoreServer, StoreServer


@pytest.fixture(params=["memory", "etcd"])
def store_server_process(request: pytest.FixtureRequest) -> EtcdProcess | None:
    """The etcd process for the etcd variant, None for memory (sync: lazy fixture lookup)."""
    if request.param == "etcd":
        process: EtcdProcess = request.getfixturevalue("etcd")
        return process
    return None


@pytest_asyncio.fixture
async def backend(store_server_process: EtcdProcess | None) -> AsyncIterator[StoreServer]:
    """The store server with its fault hooks (kill, start)."""
    server: StoreServer = (
        EtcdStoreServer(store_server_process)
        if store_server_process is not None
        else MemoryStoreServer()
    )
    try:
        yield server
    finally:
        await server.close()


@pytest_asyncio.fixture
async def store(backend: StoreServer) -> Store:
    """A client of the test's store server."""
    return await backend.open()


def make_virtual_service(
    name: str = "reviews", *, subset: str = "v1", labels: str = "", version: str = ""
) -> Resource:
    metadata_extra = ""
    if labels:
        metadata_extra += f"\n  labels: {{{labels}}}"
    if version:
        metadata_extra += f'\n  resourceVersion: "{version}"'
    text = textwrap.dedent(
        f"""\
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: {name}
          namespace: default{{extra}}
        spec:
          hosts: [{name}]
          http:
          - route:
            - destination: {{host: {name}, subset: {subset}}}
        """
    ).replace("{extra}", metadata_extra)
    return parse_documents(text, "test.yaml")[0]


@pytest.fixture
def virtual_service() -> Callable[..., Resource]:
    """Build a VirtualService ``name`` routing to ``subset`` (optionally labelled/versioned)."""
    return make_virtual_service
