"""The ingress gateway with real traffic: ``mizzen gateway run`` in front of meshed workloads.

One control plane (etcd, discovery, translator, xds), four workloads (``echo-v1`` and
``echo-v2`` serving ``echo``; ``tls-a`` and ``tls-b``, TLS servers with their own
certificates) and one gateway (``ingress.istio-system``, labels ``istio=ingressgateway``)
started with ``mizzen gateway run`` for the module. One Gateway gives it four servers:
plaintext HTTP for ``*.example.com``, an httpsRedirect server, HTTPS (SIMPLE, a certificate
made here with openssl) on server port 443 listened on at a free port, and TLS PASSTHROUGH
for ``*.pt.example.com``. Each test binds its own VirtualService and sends requests to the
gateway's listen ports on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from mizzen.testing import wait_for
from mizzen.testing.certs import self_signed
from mizzen.testing.mesh import (
    APP_PORT,
    ECHO,
    MIZZEN,
    GatewayProcess,
    HttpResponse,
    Mesh,
    Workload,
    binomial_bounds,
    http_request,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module")]

LOCALHOST = "127.0.0.1"
SECURE_HOST = "secure.example.com"


@dataclass(frozen=True)
class Edge:
    """The module's gateway, its listen ports, certificates and backends."""

    mesh: Mesh
    gateway: GatewayProcess
    http_port: int
    redirect_port: int
    https_port: int
    passthrough_port: int
    certs: Path
    backends: dict[str, Workload]

    def client_context(self) -> ssl.SSLContext:
        """A TLS client context trusting the gateway's and the TLS backends' certificates."""
        context = ssl.create_default_context(cafile=self.certs / f"{SECURE_HOST}.crt")
        for name in ("a.pt.example.com", "b.pt.example.com"):
            context.load_verify_locations(self.certs / f"{name}.crt")
        return context


def _gateway_yaml(edge_ports: dict[str, int], certs: Path) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: ingress, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {edge_ports["http"]}, name: http, protocol: HTTP}}
    hosts: ["*/*.example.com"]
  - port: {{number: {edge_ports["redirect"]}, name: http-redirect, protocol: HTTP}}
    hosts: [{SECURE_HOST}]
    tls: {{httpsRedirect: true}}
  - port: {{number: 443, name: https, protocol: HTTPS}}
    hosts: [{SECURE_HOST}]
    tls:
      mode: SIMPLE
      serverCertificate: {certs / f"{SECURE_HOST}.crt"}
      privateKey: {certs / f"{SECURE_HOST}.key"}
  - port: {{number: {edge_ports["passthrough"]}, name: tls-passthrough, protocol: TLS}}
    hosts: ["*.pt.example.com"]
    tls: {{mode: PASSTHROUGH}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: echo}}
spec:
  host: echo
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def edge(mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Edge]:
    """The backends and the gateway, started together once the Gateway is applied."""
    certs = tmp_path_factory.mktemp("certs")
    hosts = (SECURE_HOST, "a.pt.example.com", "b.pt.example.com")
    await asyncio.gather(*(self_signed(certs, host) for host in hosts))
    ports = {name: mesh.ports.take() for name in ("http", "redirect", "https", "passthrough")}
    await mesh.apply(_gateway_yaml(ports, certs))
    gateway = mesh.gateway("ingress", [str(ports["http"]), str(ports["redirect"]),
                                       f"443:{ports['https']}", str(ports["passthrough"])],
                           labels={"istio": "ingressgateway"})  # fmt: skip

    def tls_backend(name: str, host: str) -> Any:
        cert, key = str(certs / f"{host}.crt"), str(certs / f"{host}.key")
        command = (*ECHO, "--port", APP_PORT, "--cert", cert, "--key", key)
        return mesh.workload(name, service=name, port=9443, protocol="TLS",
                             labels={"app": name}, command=command)  # fmt: skip

    started = await asyncio.gather(
        mesh.workload("echo-v1", labels={"app": "echo", "version": "v1"}),
        mesh.workload("echo-v2", labels={"app": "echo", "version": "v2"}),
        tls_backend("tls-a", "a.pt.example.com"),
        tls_backend("tls-b", "b.pt.example.com"),
        gateway.start(),
    )
    backends = {w.name: w for w in started if isinstance(w, Workload)}
    try:
        # Every backend is registered; wait until the gateway's Envoy has them as endpoints.
        clusters = ["outbound|9080|v1|echo.default.svc.cluster.local",
                    "outbound|9080|v2|echo.default.svc.cluster.local",
                    "outbound|9443||tls-a.default.svc.cluster.local",
                    "outbound|9443||tls-b.default.svc.cluster.local"]  # fmt: skip

        async def endpoints_known() -> bool:
            return all([await gateway.healthy_hosts(c) > 0 for c in clusters])

        await wait_for(endpoints_known, timeout=20, message="the gateway's endpoints")
        listeners = {f"{LOCALHOST}_{ports[name]}" for name in ("http", "redirect", "https")}

        async def listening() -> bool:
            return listeners <= await gateway.listener_names()

        await wait_for(listening, timeout=20, message="the gateway's listeners")
        yield Edge(mesh, gateway, ports["http"], ports["redirect"], ports["https"],
                   ports["passthrough"], certs, backends)  # fmt: skip
    finally:
        with contextlib.suppress(Exception):
            await gateway.stop()


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def no_rejections(edge: Edge) -> AsyncIterator[None]:
    """After each test: neither the gateway nor any workload's Envoy rejected config."""
    yield
    assert await edge.gateway.rejected() == {}
    await edge.mesh.check_no_nacks()


async def get(port: int, path: str, host: str) -> HttpResponse:
    """A plaintext GET to the gateway's ``port`` with ``Host: host``."""
    return await http_request(LOCALHOST, port, "GET", path, headers={"Host": host})


@dataclass(frozen=True)
class TlsResponse:
    """An HTTPS response and the certificate the server presented (its subject's CN)."""

    status: int
    headers: dict[str, str]
    body: bytes
    peer: str

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


async def https_get(port: int, server_name: str, path: str,
                    context: ssl.SSLContext) -> TlsResponse:  # fmt: skip
    """GET ``path`` over TLS from 127.0.0.1:``port`` with SNI and Host ``server_name``
    (the certificate must be valid for it)."""
    async with asyncio.timeout(10):
        reader, writer = await asyncio.open_connection(
            LOCALHOST, port, ssl=context, server_hostname=server_name
        )
        try:
            peer = writer.get_extra_info("peercert") or {}
            request = f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n"
            writer.write(request.encode())
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            fields = (line.partition(":") for line in head[1:] if line)
            headers = {name.strip().lower(): value.strip() for name, _, value in fields}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()
    subject = dict(pair[0] for pair in peer.get("subject", ()))
    return TlsResponse(int(head[0].split(" ")[1]), headers, body, str(subject.get("commonName")))


async def test_http_is_routed_by_host(edge: Edge) -> None:
    await edge.mesh.apply("""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: by-host}
spec:
  hosts: [echo.example.com]
  gateways: [istio-system/ingress]
  http:
  - name: echo
    route:
    - destination: {host: echo}
""")

    async def routed() -> bool:
        return (await get(edge.http_port, "/", "echo.example.com")).status == 200

    await wait_for(routed, timeout=15, message="echo.example.com routed by the gateway")
    response = await get(edge.http_port, "/hello?x=1", "echo.example.com")
    assert response.status == 200
    assert response.served_by in ("echo-v1", "echo-v2")
    assert response.json()["path"] == "/hello?x=1"
    assert response.json()["host"] == "echo.example.com"
    # A host no VirtualService binds to this Gateway has no virtual host: 404.
    assert (await get(edge.http_port, "/hello", "other.example.com")).status == 404


async def test_path_match_and_weights(edge: Edge) -> None:
    await edge.mesh.apply("""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: split}
spec:
  hosts: [split.example.com]
  gateways: [istio-system/ingress]
  http:
  - name: to-v2
    match:
    - uri: {prefix: /v2/}
    rewrite: {uri: /}
    route:
    - destination: {host: echo, subset: v2}
  - name: weighted
    route:
    - destination: {host: echo, subset: v1}
      weight: 75
    - destination: {host: echo, subset: v2}
      weight: 25
""")

    async def routes_known() -> bool:
        return {"to-v2", "weighted"} <= await edge.gateway.route_names()

    await wait_for(routes_known, timeout=15, message="the split routes on the gateway")
    matched = [await get(edge.http_port, "/v2/page", "split.example.com") for _ in range(10)]
    assert {(r.status, r.served_by, r.json()["path"]) for r in matched} == {
        (200, "echo-v2", "/page")
    }
    count = 400
    limit = asyncio.Semaphore(8)

    async def one(_: int) -> HttpResponse:
        async with limit:
            return await get(edge.http_port, "/weighted", "split.example.com")

    responses = await asyncio.gather(*(one(i) for i in range(count)))
    assert {r.status for r in responses} == {200}
    served = Counter(r.served_by for r in responses)
    low, high = binomial_bounds(count, 0.25)
    assert set(served) == {"echo-v1", "echo-v2"}
    assert low <= served["echo-v2"] <= high, served


async def test_virtual_services_for_one_host_are_merged(edge: Edge) -> None:
    """Two teams route paths of one gateway host in separate VirtualServices: as in Istio,
    the gateway merges them, and the older one's catch-all route goes after the newer one's
    specific route (without the merge, one VirtualService would own the host)."""
    await edge.mesh.apply("""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a-shop-default}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/ingress]
  http:
  - name: shop-default
    route:
    - destination: {host: echo, subset: v1}
""")
    await edge.mesh.apply("""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: b-shop-search}
spec:
  hosts: [shop.example.com]
  gateways: [istio-system/ingress]
  http:
  - name: shop-search
    match:
    - uri: {prefix: /search}
    route:
    - destination: {host: echo, subset: v2}
""")

    async def routes_known() -> bool:
        return {"shop-default", "shop-search"} <= await edge.gateway.route_names()

    await wait_for(routes_known, timeout=15, message="both VirtualServices on the gateway")
    for path, expected in (("/search?q=x", "echo-v2"), ("/cart", "echo-v1"), ("/", "echo-v1")):
        responses = [await get(edge.http_port, path, "shop.example.com") for _ in range(5)]
        assert {(r.status, r.served_by) for r in responses} == {(200, expected)}, path


async def test_a_delegate_virtual_service_routes_part_of_a_host(edge: Edge) -> None:
    """The root VirtualService owns the host on the gateway and hands /team to a delegate
    (as Istio's delegation lets a team own its paths): the delegate's routes apply within
    /team only."""
    await edge.mesh.apply("""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: portal}
spec:
  hosts: [portal.example.com]
  gateways: [istio-system/ingress]
  http:
  - name: team
    match: [{uri: {prefix: /team}}]
    delegate: {name: portal-team}
  - name: portal-rest
    route:
    - destination: {host: echo, subset: v1}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: portal-team}
spec:
  http:
  - name: beta
    match: [{uri: {prefix: /team/beta}}]
    route:
    - destination: {host: echo, subset: v2}
  - name: outside
    match: [{uri: {prefix: /elsewhere}}]
    route:
    - destination: {host: echo, subset: v2}
  - name: default
    route:
    - destination: {host: echo, subset: v1}
""")

    async def routes_known() -> bool:
        return {"team-beta", "team-default", "portal-rest"} <= await edge.gateway.route_names()

    await wait_for(routes_known, timeout=15, message="the delegated routes on the gateway")
    for path, expected in (("/team/beta/x", "echo-v2"), ("/team/alpha", "echo-v1"),
                           ("/elsewhere", "echo-v1")):  # fmt: skip
        responses = [await get(edge.http_port, path, "portal.example.com") for _ in range(5)]
        assert {(r.status, r.served_by) for r in responses} == {(200, expected)}, path


async def test_https_redirect_answers_301(edge: Edge) -> None:
    # The redirect needs no VirtualService: the server's hosts get one of their own.
    response = await get(edge.redirect_port, "/login?next=/", SECURE_HOST)
    assert response.status == 301
    assert response.header("location") == f"https://{SECURE_HOST}/login?next=/"
    assert (await get(edge.redirect_port, "/", "elsewhere.example.com")).status == 404


async def test_simple_tls_is_terminated_with_the_servers_certificate(edge: Edge) -> None:
    await edge.mesh.apply(f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: secure}}
spec:
  hosts: [{SECURE_HOST}]
  gateways: [istio-system/ingress]
  http:
  - route:
    - destination: {{host: echo, subset: v1}}
""")
    context = edge.client_context()

    async def served() -> TlsResponse | None:
        response = await https_get(edge.https_port, SECURE_HOST, "/over-tls", context)
        return response if response.status == 200 else None

    response = await wait_for(served, timeout=15, message="HTTPS through the gateway")
    assert response.peer == SECURE_HOST
    assert response.headers["x-served-by"] == "echo-v1"
    assert response.json()["host"] == SECURE_HOST
    # The backend got plain HTTP from the gateway, which says the client spoke https.
    forwarded = {k.lower(): v for k, v in response.json()["headers"].items()}
    assert forwarded.get("x-forwarded-proto") == "https"
    # No filter chain takes another server name: the handshake fails.
    trusting = ssl.create_default_context()
    trusting.check_hostname = False
    trusting.verify_mode = ssl.CERT_NONE
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        await https_get(edge.https_port, "other.example.com", "/", trusting)


async def test_passthrough_routes_by_sni_to_tls_backends(edge: Edge) -> None:
    await edge.mesh.apply(f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: passthrough}}
spec:
  hosts: [a.pt.example.com, b.pt.example.com]
  gateways: [istio-system/ingress]
  tls:
  - match:
    - port: {edge.passthrough_port}
      sniHosts: [a.pt.example.com]
    route:
    - destination: {{host: tls-a, port: {{number: 9443}}}}
  - match:
    - sniHosts: [b.pt.example.com]
    route:
    - destination: {{host: tls-b, port: {{number: 9443}}}}
""")
    context = edge.client_context()
    for server_name, backend in (("a.pt.example.com", "tls-a"), ("b.pt.example.com", "tls-b")):

        async def served(name: str = server_name) -> TlsResponse | None:
            with contextlib.suppress(OSError):
                response = await https_get(edge.passthrough_port, name, "/sni", context)
                return response if response.status == 200 else None
            return None

        response = await wait_for(served, timeout=15, message=f"{server_name} by SNI")
        # The backend's own certificate: the gateway did not terminate TLS.
        assert response.peer == server_name
        assert response.headers["x-served-by"] == backend
        assert response.json()["host"] == server_name


async def test_a_port_in_use_stops_the_gateway_with_a_clear_message(edge: Edge) -> None:
    # The module's gateway holds its HTTP port: a second one on it must not start.
    port = edge.http_port
    process = await asyncio.create_subprocess_exec(
        MIZZEN, "gateway", "run", "--name", "second", "--port", str(port),
        "--admin-port", str(edge.mesh.ports.take()), "--xds", edge.mesh.xds.grpc_target,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "MIZZEN_HOME": str(edge.mesh.work_dir / "home")},
    )  # fmt: skip
    async with asyncio.timeout(30):
        _, error = await process.communicate()
    assert process.returncode == 1
    assert f"port {port} on {LOCALHOST} (--port {port}) is already in use" in error.decode()


async def test_sigterm_stops_a_ready_gateway_cleanly(edge: Edge) -> None:
    mesh = edge.mesh
    second = mesh.gateway("short-lived", [str(mesh.ports.take())])
    await second.start()
    assert await second.stop() == 0, second.log_tail()
    with pytest.raises(ConnectionRefusedError):
        await second.admin("/ready")  # its Envoy is gone too
