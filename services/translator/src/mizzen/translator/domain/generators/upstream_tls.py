"""Client TLS to an upstream (a DestinationRule's ``trafficPolicy.tls``, also per port and
per subset): TLS origination, as Istio translates it.

- ``DISABLE`` or no ``tls``: plaintext.
- ``SIMPLE``: an ``UpstreamTlsContext`` on the cluster. The server certificate is verified
  against ``caCertificates`` (and ``caCrl``), or, without them, against the system's CA
  bundle (Istio's ``VERIFY_CERTIFICATE_AT_CLIENT``, on by default since Istio 1.20);
  ``insecureSkipVerify: true`` verifies nothing. ``subjectAltNames`` must match the
  certificate's DNS or URI names. ``sni`` is sent as given; without it, an HTTP cluster sets
  ``auto_sni`` (the SNI is the request's host) and, when the certificate is verified and no
  ``subjectAltNames`` are given, ``auto_san_validation`` (the certificate must be valid for
  that host). ALPN ``h2`` for HTTP/2 upstreams.
- ``MUTUAL``: the same, presenting ``clientCertificate`` / ``privateKey``.

Credentials are files Envoy reads on the proxy's machine. Not translated yet:
``ISTIO_MUTUAL`` (the mesh's own certificates need Mizzen's CA, not built yet: such traffic
stays plaintext) and ``credentialName`` (secrets over SDS).
"""

from __future__ import annotations

import functools
import os
import ssl
from typing import Any

from envoy.extensions.transport_sockets.tls.v3 import tls_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from mizzen.api.networking.traffic_policy import ClientTLSSettings
from mizzen.envoy import pack
from mizzen.registry import Protocol
from mizzen.translator.domain.generators.errors import GeneratorError
from mizzen.translator.domain.generators.tls_common import (
    file_source,
    match_subject_alt_names,
    transport_socket,
)

__all__ = ["HTTP_PROTOCOL_OPTIONS", "apply_client_tls", "system_ca_bundle"]

HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
"""The key of a cluster's HTTP protocol options in ``typed_extension_protocol_options``."""
_ORIGINATING = ("SIMPLE", "MUTUAL")
_SYSTEM_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/cert.pem",  # macOS, BSD
)


@functools.cache
def system_ca_bundle() -> str | None:
    """The system's CA bundle file (OpenSSL's default, else a well-known path), if any;
    looked up once per process (it is asked for every cluster that originates TLS)."""
    default = ssl.get_default_verify_paths().cafile
    for candidate in (default, *_SYSTEM_BUNDLES):
        if candidate and os.path.isfile(candidate):
            return candidate
    return None


def _context(tls: ClientTLSSettings, protocol: Protocol) -> tuple[Any, bool]:
    """The UpstreamTlsContext and whether the server certificate is verified."""
    context = tls_pb2.UpstreamTlsContext()
    if tls.sni:
        context.sni = tls.sni
    common = context.common_tls_context
    if tls.mode == "MUTUAL":
        if not (tls.client_certificate and tls.private_key):
            raise GeneratorError("", "MUTUAL TLS needs clientCertificate and privateKey")
        common.tls_certificates.add(
            certificate_chain=file_source(tls.client_certificate),
            private_key=file_source(tls.private_key),
        )
    if protocol.is_http2:
        common.alpn_protocols.append("h2")
    if tls.insecure_skip_verify:
        return context, False
    trusted = tls.ca_certificates or system_ca_bundle()
    if trusted is None:
        raise GeneratorError(
            "", "no caCertificates and no system CA bundle to verify the server with; "
            "set caCertificates (or insecureSkipVerify: true)",
        )  # fmt: skip
    validation = common.validation_context
    validation.trusted_ca.CopyFrom(file_source(trusted))
    if tls.ca_crl:
        validation.crl.CopyFrom(file_source(tls.ca_crl))
    match_subject_alt_names(validation, tls.subject_alt_names or ())
    return context, True


def apply_client_tls(cluster: Any, tls: ClientTLSSettings | None, protocol: Protocol) -> None:
    """Give ``cluster`` (mutated) the client TLS ``tls`` asks for (see the module)."""
    if tls is None or tls.mode not in _ORIGINATING:
        return
    context, verified = _context(tls, protocol)
    cluster.transport_socket.CopyFrom(transport_socket(context))
    if tls.sni or not protocol.is_http:
        return
    options = http_protocol_options_pb2.HttpProtocolOptions()
    existing = cluster.typed_extension_protocol_options.get(HTTP_PROTOCOL_OPTIONS)
    if existing is not None:
        existing.Unpack(options)
    else:
        options.explicit_http_config.http_protocol_options.SetInParent()
    options.upstream_http_protocol_options.auto_sni = True
    options.upstream_http_protocol_options.auto_san_validation = (
        verified and not tls.subject_alt_names
    )
    cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(pack(options))
