"""Egress through a gateway, as in Istio's "Egress Gateways" task for HTTPS traffic.

An HTTPS server outside the mesh (``shop.example.test`` by a ServiceEntry), an egress
gateway (``mizzen gateway run --name egress --labels istio=egressgateway --service
istio-egressgateway --port 443:<port>:TLS`` in ``istio-system``: it registers as that
service) and a meshed client whose app opens TLS to the shop through its Envoy (CONNECT).
Istio's task YAML (a PASSTHROUGH Gateway and a VirtualService whose ``tls`` routes send the
mesh's traffic to the gateway and the gateway's to the shop) makes the traffic leave through
the gateway, which never decrypts it.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from mizzen.testing import wait_for
from mizzen.testing.certs import CertificateAuthority
from mizzen.testing.mesh import (
    MIZZEN,
    ExternalServer,
    GatewayProcess,
    Mesh,
    Workload,
    via_tunnel,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module")]

SHOP = "shop.example.test"
EGRESS_SERVICE = "istio-egressgateway.istio-system.svc.cluster.local"
REQUEST = f"GET /order HTTP/1.1\r\nHost: {SHOP}\r\nConnection: close\r\n\r\n".encode()


@dataclass(frozen=True)
class Egress:
    """The module's parts."""

    mesh: Mesh
    client: Workload
    gateway: GatewayProcess
    gateway_port: int
    shop_port: int
    client_tls: ssl.SSLContext


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def egress(mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Egress]:
    certs = tmp_path_factory.mktemp("certs")
    ca = await CertificateAuthority.create(certs)
    shop = ExternalServer("shop", mesh.ports.take(), await ca.issue("shop", dns=SHOP), certs)
    gateway_port = mesh.ports.take()
    labels = {"istio": "egressgateway"}
    gateway = mesh.gateway("egress", [f"443:{gateway_port}:TLS"], labels=labels,
                           service="istio-egressgateway")  # fmt: skip
    client, *_ = await asyncio.gather(
        mesh.workload("egress-client", service=None, labels={"app": "egress-client"}),
        shop.start(),
        gateway.start(),
    )
    assert isinstance(client, Workload)
    try:
        yield Egress(mesh, client, gateway, gateway_port, shop.port,
                     ssl.create_default_context(cafile=str(ca.cert)))  # fmt: skip
    finally:
        await asyncio.gather(shop.stop(), gateway.stop())


async def shop_order(egress: Egress) -> str:
    """One HTTPS request from the client's app to the shop (TLS inside a CONNECT tunnel);
    the name of the server that answered."""
    status, response = await via_tunnel(egress.client, f"{SHOP}:443", REQUEST,
                                        tls=egress.client_tls)  # fmt: skip
    assert status == 200, status
    assert response is not None
    assert response.status == 200, response
    return response.served_by


async def test_the_gateway_registers_as_its_service(egress: Egress) -> None:
    key = f"/mizzen/registry/endpoints/{EGRESS_SERVICE}/istio-system.egress"
    kv = await wait_for(lambda: egress.mesh.store.get(key), timeout=15,
                        message="the gateway's endpoint")  # fmt: skip
    endpoint = json.loads(kv.value)
    assert endpoint.get("health", "HEALTHY") == "HEALTHY"
    assert (endpoint["address"], endpoint["ports"]) == ("127.0.0.1", {"443": egress.gateway_port})
    assert endpoint["labels"] == {"istio": "egressgateway"}


async def test_https_traffic_leaves_through_the_egress_gateway(egress: Egress) -> None:
    mesh, listener = egress.mesh, f"listener.127.0.0.1_{egress.gateway_port}.downstream_cx_total"
    await mesh.apply(f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: shop}}
spec:
  hosts: [{SHOP}]
  location: MESH_EXTERNAL
  ports: [{{number: 443, name: tls, protocol: TLS, targetPort: {egress.shop_port}}}]
  resolution: STATIC
  endpoints: [{{address: 127.0.0.1}}]
""")
    # Without the egress rules the app reaches the shop directly: the gateway sees nothing.
    await wait_for(lambda: _served_by_shop(egress), timeout=15, message="the shop reached")
    assert await egress.gateway.counter(listener) == 0
    await mesh.apply("""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: istio-egressgateway, namespace: istio-system}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 443, name: tls, protocol: TLS}
    hosts: [shop.example.test]
    tls: {mode: PASSTHROUGH}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: direct-shop-through-egress-gateway}
spec:
  hosts: [shop.example.test]
  gateways: [mesh, istio-system/istio-egressgateway]
  tls:
  - match:
    - gateways: [mesh]
      port: 443
      sniHosts: [shop.example.test]
    route:
    - destination:
        host: istio-egressgateway.istio-system.svc.cluster.local
        port: {number: 443}
  - match:
    - gateways: [istio-system/istio-egressgateway]
      port: 443
      sniHosts: [shop.example.test]
    route:
    - destination:
        host: shop.example.test
        port: {number: 443}
""")

    async def through_gateway() -> bool:
        before = await egress.gateway.counter(listener)
        return await _served_by_shop(egress) and await egress.gateway.counter(listener) > before

    await wait_for(through_gateway, timeout=20, message="traffic through the egress gateway")
    before = await egress.gateway.counter(listener)
    assert [await shop_order(egress) for _ in range(10)] == ["shop"] * 10
    assert await egress.gateway.counter(listener) == before + 10
    assert await egress.gateway.rejected() == {}
    await mesh.check_no_nacks()


async def _served_by_shop(egress: Egress) -> bool:
    return await shop_order(egress) == "shop"


async def test_analyze_sees_the_registered_gateway(egress: Egress) -> None:
    """`mizzen analyze` lists the workloads from discovery: the Gateway selecting the
    registered egress gateway's labels is fine, one selecting nothing is IST0101."""
    mesh = egress.mesh
    await mesh.apply("""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: nobody, namespace: istio-system}
spec:
  selector: {istio: no-such-gateway}
  servers:
  - port: {number: 443, name: tls, protocol: TLS}
    hosts: [shop.example.test]
    tls: {mode: PASSTHROUGH}
""")
    process = await asyncio.create_subprocess_exec(
        MIZZEN, "--server", mesh.services["translator"].grpc_target, "analyze",
        "-n", "istio-system", "--discovery", mesh.services["discovery"].grpc_target,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    report = out.decode()
    assert process.returncode == 79, report + err.decode()
    (finding,) = [line for line in report.splitlines() if "IST0101" in line]
    assert "istio-system/nobody" in finding, report
    assert "istio-egressgateway" not in report, report  # its selector matches the gateway
    assert "skipped" not in (report + err.decode()), report + err.decode()
