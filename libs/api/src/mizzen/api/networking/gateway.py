"""Gateway: a load balancer at the edge of the mesh, and its servers."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from mizzen.api.base import IstioModel, UInt32
from mizzen.api.resource import Resource

__all__ = [
    "Gateway",
    "GatewaySpec",
    "Port",
    "Server",
    "ServerTLSSettings",
    "TLSCertificate",
]

TLSVersion = Literal["TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"]


class Port(IstioModel):
    """A port a server listens on: number, protocol and name are required."""

    number: UInt32
    protocol: str
    name: str
    target_port: UInt32 | None = None


class TLSCertificate(IstioModel):
    """One certificate/key pair (RSA or ECDSA) given by file paths."""

    server_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None


class ServerTLSSettings(IstioModel):
    """TLS settings of a server (Gateway) or of a Sidecar ingress listener."""

    https_redirect: bool | None = None
    mode: (
        Literal[
            "PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"
        ]
        | None
    ) = None
    server_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    ca_crl: str | None = None
    credential_name: str | None = None
    credential_names: list[str] | None = Field(default=None, min_length=1, max_length=2)
    tls_certificates: list[TLSCertificate] | None = Field(default=None, min_length=1, max_length=2)
    subject_alt_names: list[str] | None = None
    verify_certificate_spki: list[str] | None = None
    verify_certificate_hash: list[str] | None = None
    min_protocol_version: TLSVersion | None = None
    max_protocol_version: TLSVersion | None = None
    cipher_suites: list[str] | None = None
    ca_cert_credential_name: str | None = None
    insecure_skip_verify: bool | None = None


class Server(IstioModel):
    """A port, the hosts exposed on it and their TLS settings."""

    port: Port
    bind: str | None = None
    hosts: list[str]
    tls: ServerTLSSettings | None = None
    default_endpoint: str | None = None
    name: str | None = None


class GatewaySpec(IstioModel):
    """The servers of a gateway and the gateway workloads that run them."""

    servers: list[Server] | None = None
    selector: dict[str, str] | None = None


class Gateway(Resource):
    """networking.istio.io Gateway."""

    KIND: ClassVar[str] = "Gateway"
    GROUP: ClassVar[str] = "networking.istio.io"

    spec: GatewaySpec = Field(default_factory=GatewaySpec)
