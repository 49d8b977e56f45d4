"""TLS to services outside the mesh, with real traffic.

- Origination: a DestinationRule's ``trafficPolicy.tls`` makes the client's Envoy speak TLS
  (SIMPLE) or mutual TLS (MUTUAL) to a service the app calls with plain HTTP, as in Istio's
  "Egress TLS origination" task.
- SNI routing: a VirtualService ``tls`` route sends the app's own TLS (through a CONNECT
  tunnel, as an HTTPS client behind a proxy does) to another destination.

Three HTTPS echo servers outside the mesh, with certificates from a test CA: ``secure``
(server certificate for ``secure.example.test``), ``mutual`` (also requires a client
certificate from that CA) and ``other``. ServiceEntries put them in the registry. One meshed
client sends traffic through its Envoy.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass

import pytest
import pytest_asyncio

from mizzen.testing import wait_for
from mizzen.testing.certs import CertificateAuthority, Issued
from mizzen.testing.mesh import (
    ExternalServer,
    HttpResponse,
    Mesh,
    Workload,
    via_proxy,
    via_tunnel,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.usefixtures("mesh_guard")]

SECURE = "secure.example.test"
MUTUAL = "mutual.example.test"


@dataclass(frozen=True)
class Origination:
    """The module's client, servers and certificates."""

    client: Workload
    ca: CertificateAuthority
    client_cert: Issued
    secure_port: int
    mutual_port: int
    other_port: int


def service_entry(host: str, port: int, *, number: int = 80, protocol: str = "HTTP") -> str:
    """A ServiceEntry for ``host``: port ``number`` (``protocol``, HTTP on 80 unless given)
    forwarded to 127.0.0.1:``port``."""
    return f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {host.partition(".")[0]}}}
spec:
  hosts: [{host}]
  location: MESH_EXTERNAL
  ports: [{{number: {number}, name: {protocol.lower()}, protocol: {protocol}, targetPort: {port}}}]
  resolution: STATIC
  endpoints: [{{address: 127.0.0.1}}]
"""


def destination_rule(host: str, tls: str) -> str:
    """A DestinationRule for ``host`` whose top-level policy has the ``tls`` settings (YAML
    flow mapping)."""
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {host.partition(".")[0]}}}
spec:
  host: {host}
  trafficPolicy:
    tls: {tls}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def origination(
    mesh: Mesh, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Origination]:
    """The CA and certificates, the two HTTPS servers and the client workload."""
    certs = tmp_path_factory.mktemp("certs")
    ca = await CertificateAuthority.create(certs)
    secure_cert, mutual_cert, other_cert, client_cert = await asyncio.gather(
        ca.issue("secure", dns=SECURE), ca.issue("mutual", dns=MUTUAL),
        ca.issue("other", dns="other.example.test"), ca.issue("mesh-client"),
    )  # fmt: skip
    secure = ExternalServer("secure", mesh.ports.take(), secure_cert, certs)
    mutual = ExternalServer("mutual", mesh.ports.take(), mutual_cert, certs, client_ca=ca.cert)
    other = ExternalServer("other", mesh.ports.take(), other_cert, certs)
    servers = (secure, mutual, other)
    await asyncio.gather(*(server.start() for server in servers))
    try:
        client = await mesh.workload("tls-client", service=None, labels={"app": "tls-client"})
        yield Origination(client, ca, client_cert, secure.port, mutual.port, other.port)
    finally:
        await asyncio.gather(*(server.stop() for server in servers))


async def settled(client: Workload, url: str, expected: int) -> HttpResponse:
    """The response to ``GET url`` through ``client``'s Envoy once it has status
    ``expected`` (config takes a moment to arrive); fails after 15 s with the last status."""
    last: list[HttpResponse] = []

    async def answered() -> bool:
        last[:] = [await via_proxy(client, url)]
        return last[0].status == expected

    with contextlib.suppress(AssertionError):
        await wait_for(answered, timeout=15, message=f"{url} answering {expected}")
    (response,) = last
    assert response.status == expected, (url, response.status, response.body[:300])
    return response


async def test_simple_tls_is_originated_to_a_verified_server(
    mesh: Mesh, origination: Origination
) -> None:
    url = f"http://{SECURE}/orders"
    await mesh.apply(service_entry(SECURE, origination.secure_port))
    # Plain HTTP to a TLS server fails: the server hangs up on the bytes it cannot read.
    await settled(origination.client, url, 503)
    ca = origination.ca.cert
    await mesh.apply(
        destination_rule(SECURE, f"{{mode: SIMPLE, caCertificates: {ca}, sni: {SECURE}}}")
    )
    response = await settled(origination.client, url, 200)
    assert response.served_by == "secure"
    assert response.json()["path"] == "/orders"
    assert response.json()["client_cert"] is None  # SIMPLE presents no certificate
    assert response.json()["sni"] == SECURE


async def test_sni_and_host_verification_come_from_the_request_host(
    mesh: Mesh, origination: Origination
) -> None:
    """Without ``sni``, Envoy sends the request's host as SNI and checks the certificate is
    valid for it (auto SNI and SAN validation); a wrong ``subjectAltNames`` is refused."""
    url, ca = f"http://{SECURE}/auto", origination.ca.cert
    verified = destination_rule(SECURE, f"{{mode: SIMPLE, caCertificates: {ca}}}")
    await mesh.apply(service_entry(SECURE, origination.secure_port) + "---" + verified)
    response = await settled(origination.client, url, 200)
    assert (response.served_by, response.json()["sni"]) == ("secure", SECURE)
    wrong_name = "subjectAltNames: [other.example.test]"
    await mesh.apply(
        destination_rule(SECURE, f"{{mode: SIMPLE, caCertificates: {ca}, {wrong_name}}}")
    )
    await settled(origination.client, url, 503)


async def test_an_untrusted_server_is_refused(mesh: Mesh, origination: Origination) -> None:
    """Verified against the system's CA bundle (no caCertificates), the test CA's server is
    refused; ``insecureSkipVerify`` accepts it."""
    url = f"http://{SECURE}/untrusted"
    await mesh.apply(service_entry(SECURE, origination.secure_port) + "---"
                     + destination_rule(SECURE, f"{{mode: SIMPLE, sni: {SECURE}}}"))  # fmt: skip
    await settled(origination.client, url, 503)
    await mesh.apply(destination_rule(SECURE, "{mode: SIMPLE, insecureSkipVerify: true}"))
    assert (await settled(origination.client, url, 200)).served_by == "secure"


async def test_mutual_tls_presents_the_client_certificate(
    mesh: Mesh, origination: Origination
) -> None:
    url = f"http://{MUTUAL}/account"
    ca, issued = origination.ca.cert, origination.client_cert
    simple = destination_rule(MUTUAL, f"{{mode: SIMPLE, caCertificates: {ca}}}")
    await mesh.apply(service_entry(MUTUAL, origination.mutual_port) + "---" + simple)
    # The server asks for a client certificate: SIMPLE has none to give.
    await settled(origination.client, url, 503)
    await mesh.apply(destination_rule(MUTUAL, f"{{mode: MUTUAL, caCertificates: {ca}, "
                     f"clientCertificate: {issued.cert}, privateKey: {issued.key}}}"))  # fmt: skip
    response = await settled(origination.client, url, 200)
    assert response.served_by == "mutual"
    assert response.json()["client_cert"] == "mesh-client"


async def test_a_tls_route_sends_the_apps_tls_by_sni(mesh: Mesh, origination: Origination) -> None:
    """The app opens TLS to ``shop.example.test:443`` through its Envoy (CONNECT, then its own
    TLS inside): it reaches the ServiceEntry's server, until a VirtualService ``tls`` route
    for that SNI sends it to ``other.example.test`` instead. Envoy never decrypts it."""
    context = ssl.create_default_context(cafile=str(origination.ca.cert))
    context.check_hostname = False  # the servers' certificates name their own hosts
    request = b"GET /sni HTTP/1.1\r\nHost: shop.example.test\r\nConnection: close\r\n\r\n"

    async def served_by_over_tls() -> str:
        status, response = await via_tunnel(origination.client, "shop.example.test:443",
                                             request, tls=context)  # fmt: skip
        assert status == 200, status
        assert response is not None
        assert response.status == 200, response
        assert response.json()["sni"] == "shop.example.test"
        return response.served_by

    await mesh.apply(
        service_entry("shop.example.test", origination.secure_port, number=443, protocol="TLS")
        + "---"
        + service_entry("other.example.test", origination.other_port, number=443, protocol="TLS")
    )
    await wait_for(lambda: _is(served_by_over_tls(), "secure"), timeout=15,
                   message="shop.example.test reached")  # fmt: skip
    await mesh.apply("""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop}
spec:
  hosts: [shop.example.test]
  tls:
  - match: [{sniHosts: [shop.example.test], port: 443}]
    route:
    - destination: {host: other.example.test, port: {number: 443}}
""")
    await wait_for(lambda: _is(served_by_over_tls(), "other"), timeout=15,
                   message="the tls route in effect")  # fmt: skip
    assert [await served_by_over_tls() for _ in range(10)] == ["other"] * 10


async def _is(value: Awaitable[str], expected: str) -> bool:
    return await value == expected
