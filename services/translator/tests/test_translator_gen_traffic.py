"""Local interception with real traffic: the generated resources, loaded into a real Envoy as
static config (no xds yet), route an app's proxied requests the way serving.md describes.

One Envoy holds the resources of three proxy classes (a client, an HTTP service, a TCP
service), each on its own loopback address; requests go to the client's HTTP-proxy listener
in absolute form or as CONNECT. This proves the parts of local mode Istio has no equivalent
for: routing by Host on the proxy listener, CONNECT tunnels to TCP services, and unknown
hosts passed through by the dynamic forward proxy. The full end-to-end tests (xds, agents)
live in the root ``tests/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import MappingProxyType
from typing import Any

import pytest
import pytest_asyncio
from google.protobuf import json_format

from mizzen.api import parse_documents
from mizzen.envoy import EnvoyResource, validation_bootstrap
from mizzen.launcher import PortAllocator
from mizzen.registry import Endpoint, Protocol, Registry, Service, ServicePort
from mizzen.snapshots import InboundPort, ProxyClass, ProxyType
from mizzen.testing.plugin import EnvoyFactory
from mizzen.translator.domain.generators import MeshTranslation
from mizzen.translator.domain.mesh_config import MeshConfig

pytestmark = pytest.mark.integration

CLIENT, REVIEWS, DB = "127.77.0.5", "127.77.0.6", "127.77.0.7"
REVIEWS_HOST = "reviews.default.svc.cluster.local"
DB_HOST = "db.default.svc.cluster.local"
ROUTES = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
    - match: [{uri: {prefix: /teapot}}]
      fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
      route: [{destination: {host: reviews}}]
    - route: [{destination: {host: reviews}}]
      headers: {response: {set: {x-routed-by: mizzen}}}
"""


async def _serve_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    path = head.split(" ", 2)[1]
    host = next(
        (line.split(":", 1)[1].strip() for line in head.split("\r\n")
         if line.lower().startswith("host:")),
        "",
    )  # fmt: skip
    body = f"{path} {host}".encode()
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
    writer.write(body)
    await writer.drain()
    writer.close()


async def _serve_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    data = await reader.read(100)
    writer.write(b"echo:" + data)
    await writer.drain()
    writer.close()


class Mesh:
    """The upstream apps' ports and the client's proxy listener."""

    def __init__(self, app_port: int, db_port: int) -> None:
        self.app_port = app_port
        self.db_port = db_port

    async def request(self, url: str, host: str) -> tuple[str, str]:
        """An absolute-form GET through the client's proxy; returns (head, body)."""
        reader, writer = await asyncio.open_connection(CLIENT, 15001)
        writer.write(f"GET {url} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode()
        length = next(
            int(line.split(":", 1)[1])
            for line in head.split("\r\n")
            if line.lower().startswith("content-length:")
        )
        # Read exactly the body: waiting for the close would wait out Envoy's delayed close.
        body = (await asyncio.wait_for(reader.readexactly(length), 5)).decode()
        writer.close()
        return head.strip(), body

    async def tunnel(self, authority: str, payload: bytes) -> tuple[str, bytes]:
        """CONNECT through the client's proxy, send ``payload``; returns (head, answer)."""
        reader, writer = await asyncio.open_connection(CLIENT, 15001)
        writer.write(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
        await writer.drain()
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode()
        writer.write(payload)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(100), 5)
        writer.close()
        return head, answer


def _resources(app_port: int, db_port: int) -> list[EnvoyResource]:
    services = {
        REVIEWS_HOST: Service(REVIEWS_HOST, "default", (ServicePort(9080, Protocol.HTTP),)),
        DB_HOST: Service(DB_HOST, "default", (ServicePort(5432, Protocol.TCP),)),
    }
    endpoints = {
        REVIEWS_HOST: (Endpoint(REVIEWS_HOST, "default", "reviews", REVIEWS, {9080: 9080}),),
        DB_HOST: (Endpoint(DB_HOST, "default", "db", DB, {5432: 5432}),),
    }
    registry = Registry(MappingProxyType(services), MappingProxyType(endpoints))
    translation = MeshTranslation(
        MeshConfig.from_resources(parse_documents(ROUTES, "routes")), registry
    )
    classes = [
        ProxyClass(ProxyType.SIDECAR, "default", local_address=CLIENT),
        ProxyClass(ProxyType.SIDECAR, "default", local_address=REVIEWS,
                   inbound=(InboundPort(9080, app_port, Protocol.HTTP),)),
        ProxyClass(ProxyType.SIDECAR, "default", local_address=DB,
                   inbound=(InboundPort(5432, db_port, Protocol.TCP),)),
    ]  # fmt: skip
    merged: dict[tuple[str, str], EnvoyResource] = {}
    for proxy in classes:
        for resource in translation.generate(proxy).resources():
            # Shared sets give identical resources; inbound names differ per class here.
            assert merged.setdefault((resource.type_url, resource.name), resource) == resource
    return list(merged.values())


@pytest_asyncio.fixture
async def mesh(envoy_factory: EnvoyFactory, ports: PortAllocator) -> AsyncIterator[Mesh]:
    app = await asyncio.start_server(_serve_http, "127.0.0.1", 0)
    echo = await asyncio.start_server(_serve_echo, "127.0.0.1", 0)
    app_port = app.sockets[0].getsockname()[1]
    db_port = echo.sockets[0].getsockname()[1]
    bootstrap: Any = validation_bootstrap(_resources(app_port, db_port))
    admin_port = ports.take()
    bootstrap.admin.address.socket_address.address = "127.0.0.1"
    bootstrap.admin.address.socket_address.port_value = admin_port
    document = json_format.MessageToDict(bootstrap)
    try:
        await envoy_factory(document, admin_port=admin_port, name="local-mode")
        yield Mesh(app_port, db_port)
    finally:
        app.close()
        echo.close()


async def test_requests_are_routed_by_host_through_the_proxy_listener(mesh: Mesh) -> None:
    head, body = await mesh.request("http://reviews:9080/hello", "reviews:9080")
    assert head.startswith("HTTP/1.1 200"), head
    assert "x-routed-by: mizzen" in head.lower()
    assert body == "/hello reviews:9080"
    head, _ = await mesh.request(f"http://{REVIEWS_HOST}:9080/teapot", f"{REVIEWS_HOST}:9080")
    assert head.startswith("HTTP/1.1 418"), head


async def test_unknown_hosts_pass_through(mesh: Mesh) -> None:
    authority = f"127.0.0.1:{mesh.app_port}"
    head, body = await mesh.request(f"http://{authority}/direct", authority)
    assert head.startswith("HTTP/1.1 200"), head
    assert body == f"/direct {authority}"


async def test_connect_reaches_tcp_services_and_unknown_hosts(mesh: Mesh) -> None:
    head, answer = await mesh.tunnel("db:5432", b"ping")
    assert head.startswith("HTTP/1.1 200"), head
    assert answer == b"echo:ping"
    head, answer = await mesh.tunnel(f"127.0.0.1:{mesh.db_port}", b"pong")
    assert head.startswith("HTTP/1.1 200"), head
    assert answer == b"echo:pong"
