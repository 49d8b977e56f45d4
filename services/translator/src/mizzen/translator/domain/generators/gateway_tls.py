"""Downstream TLS of a gateway server that terminates TLS (modes SIMPLE, MUTUAL,
OPTIONAL_MUTUAL), with its credentials read by Envoy from files on the router's machine.

- ``serverCertificate`` / ``privateKey`` (or each ``tlsCertificates`` entry): the certificate
  chain and key files;
- MUTUAL and OPTIONAL_MUTUAL: ``caCertificates`` (and ``caCrl``) validate client certificates,
  required with MUTUAL; ``subjectAltNames`` must match one of the client certificate's DNS or
  URI names; ``verifyCertificateSpki`` / ``verifyCertificateHash`` pin it;
- ``minProtocolVersion`` (TLS 1.2 unless given, Istio's default for gateways),
  ``maxProtocolVersion``, ``cipherSuites``;
- ALPN ``h2, http/1.1`` for HTTPS servers (none for TLS servers, whose bytes go to TCP).

``credentialName`` (secrets delivered over SDS) is not translated here; see
:mod:`.gateway_servers` for the servers left out.
"""

from __future__ import annotations

from typing import Any

from envoy.extensions.transport_sockets.tls.v3 import common_pb2, tls_pb2

from mizzen.translator.domain.generators.errors import GeneratorError
from mizzen.translator.domain.generators.gateway_servers import (
    BoundServer,
    ServerKind,
    certificate_files,
)
from mizzen.translator.domain.generators.tls_common import (
    TLS_TRANSPORT_SOCKET,
    file_source,
    match_subject_alt_names,
    transport_socket,
)

__all__ = ["TLS_TRANSPORT_SOCKET", "downstream_tls_context", "tls_transport_socket"]

HTTPS_ALPN = ("h2", "http/1.1")
_VERSIONS = {
    "TLS_AUTO": common_pb2.TlsParameters.TLS_AUTO,
    "TLSV1_0": common_pb2.TlsParameters.TLSv1_0,
    "TLSV1_1": common_pb2.TlsParameters.TLSv1_1,
    "TLSV1_2": common_pb2.TlsParameters.TLSv1_2,
    "TLSV1_3": common_pb2.TlsParameters.TLSv1_3,
}


def downstream_tls_context(bound: BoundServer) -> Any:
    """The DownstreamTlsContext of a terminating server (``bound.tls`` is set and its
    credentials are files: :func:`~.gateway_servers.server_kind` admitted it)."""
    tls = bound.tls
    if tls is None:
        raise GeneratorError("", f"server {bound.server.port.name!r} has no TLS settings")
    context = tls_pb2.DownstreamTlsContext()
    common = context.common_tls_context
    for chain, key in certificate_files(tls):
        common.tls_certificates.add(
            certificate_chain=file_source(chain), private_key=file_source(key)
        )
    params = common.tls_params
    params.tls_minimum_protocol_version = _VERSIONS[tls.min_protocol_version or "TLSV1_2"]
    if tls.max_protocol_version:
        params.tls_maximum_protocol_version = _VERSIONS[tls.max_protocol_version]
    params.cipher_suites.extend(tls.cipher_suites or ())
    if bound.kind is ServerKind.HTTPS:
        common.alpn_protocols.extend(HTTPS_ALPN)
    if tls.mode in ("MUTUAL", "OPTIONAL_MUTUAL"):
        validation = common.validation_context
        if tls.ca_certificates:
            validation.trusted_ca.CopyFrom(file_source(tls.ca_certificates))
        if tls.ca_crl:
            validation.crl.CopyFrom(file_source(tls.ca_crl))
        match_subject_alt_names(validation, tls.subject_alt_names or ())
        validation.verify_certificate_spki.extend(tls.verify_certificate_spki or ())
        validation.verify_certificate_hash.extend(tls.verify_certificate_hash or ())
        context.require_client_certificate.value = tls.mode == "MUTUAL"
    return context


def tls_transport_socket(bound: BoundServer) -> Any:
    """The filter chain's TLS transport socket for ``bound``."""
    return transport_socket(downstream_tls_context(bound))
