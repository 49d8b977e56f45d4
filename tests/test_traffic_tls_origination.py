"""TLS origination with real traffic: a DestinationRule's ``trafficPolicy.tls`` makes the
client's Envoy speak TLS (SIMPLE) or mutual TLS (MUTUAL) to a service the app calls with
plain HTTP, as in Istio's "Egress TLS origination" task.

Two HTTPS echo servers outside the mesh, with certificates from a test CA: ``secure`` (server
certificate for ``secure.example.test``) and ``mutual`` (also requires a client certificate
from that CA). ServiceEntries put them in the registry as ``secure.example.test`` and
``mutual.example.test``, port 80 (HTTP) forwarded to the servers' ports. One meshed client
sends plain HTTP through its Envoy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from mizzen.launcher import ChildProcess
from mizzen.testing import wait_for
from mizzen.testing.certs import CertificateAuthority, Issued
from mizzen.testing.mesh import ECHO, HttpResponse, Mesh, Workload, via_proxy

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.usefixtures("mesh_guard")]

SECURE = "secure.example.test"
MUTUAL = "mutual.example.test"


class HttpsServer(ChildProcess):
    """The echo app serving HTTPS on 127.0.0.1:``port``; ready once it accepts connections."""

    def __init__(self, name: str, port: int, issued: Issued, log_dir: Path,
                 client_ca: Path | None = None) -> None:  # fmt: skip
        argv = [*ECHO, "--host", "127.0.0.1", "--port", str(port), "--name", name,
                "--cert", str(issued.cert), "--key", str(issued.key)]  # fmt: skip
        if client_ca is not None:
            argv += ["--client-ca", str(client_ca)]
        super().__init__(name, argv, log_path=log_dir / f"{name}.log")
        self.port = port

    async def is_ready(self) -> bool:
        """It accepts TCP connections."""
        _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True


@dataclass(frozen=True)
class Origination:
    """The module's client, servers and certificates."""

    client: Workload
    ca: CertificateAuthority
    client_cert: Issued
    secure_port: int
    mutual_port: int


def service_entry(host: str, port: int) -> str:
    """A ServiceEntry for ``host``: port 80 (HTTP) forwarded to 127.0.0.1:``port``."""
    return f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {host.partition(".")[0]}}}
spec:
  hosts: [{host}]
  location: MESH_EXTERNAL
  ports: [{{number: 80, name: http, protocol: HTTP, targetPort: {port}}}]
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
    secure_cert, mutual_cert, client_cert = await asyncio.gather(
        ca.issue("secure", dns=SECURE), ca.issue("mutual", dns=MUTUAL), ca.issue("mesh-client")
    )
    secure = HttpsServer("secure", mesh.ports.take(), secure_cert, certs)
    mutual = HttpsServer("mutual", mesh.ports.take(), mutual_cert, certs, client_ca=ca.cert)
    await asyncio.gather(secure.start(), mutual.start())
    try:
        client = await mesh.workload("tls-client", service=None, labels={"app": "tls-client"})
        yield Origination(client, ca, client_cert, secure.port, mutual.port)
    finally:
        await asyncio.gather(secure.stop(), mutual.stop())


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
