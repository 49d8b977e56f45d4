"""Gateway rules: servers, ports, hosts and TLS settings."""

from __future__ import annotations

from mizzen.api.hosts import check_namespace_slash_host, is_ip
from mizzen.api.networking.gateway import Gateway, Server, ServerTLSSettings
from mizzen.api.rules.common import check_label_map, check_port, count_set
from mizzen.api.rules.issues import Issues
from mizzen.api.rules.protocols import TLS_PROTOCOLS, check_protocol

__all__ = ["check_gateway", "check_server_tls"]

_TLS_ORDER = ("TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3")


def check_gateway(gw: Gateway, out: Issues) -> None:
    """At least one server; unique port names; each server checked."""
    spec = gw.spec
    if not spec.servers:
        out.add("spec.servers", "a gateway needs at least one server")
    port_names: set[str] = set()
    for i, server in enumerate(spec.servers or ()):
        where = f"spec.servers[{i}]"
        _check_server(server, where, out)
        if server.port.name in port_names:
            out.add(
                f"{where}.port.name",
                f"port names in servers must be unique: {server.port.name!r} is used twice",
            )
        port_names.add(server.port.name)
    check_label_map(spec.selector, "spec.selector", out)


def _check_server(server: Server, path: str, out: Issues) -> None:
    if not server.hosts:
        out.add(f"{path}.hosts", "a server needs at least one host")
    for i, host in enumerate(server.hosts):
        out.add_if(f"{path}.hosts[{i}]", check_namespace_slash_host(host, namespace_required=False))
    port = server.port
    check_port(port.number, f"{path}.port.number", out)
    if port.target_port is not None:
        check_port(port.target_port, f"{path}.port.targetPort", out)
    out.add_if(f"{path}.port.protocol", check_protocol(port.protocol))
    if not port.name:
        out.add(f"{path}.port.name", "port name must be set")
    if server.bind and not is_ip(server.bind) and not server.bind.startswith("unix://"):
        out.add(f"{path}.bind", "bind must be an IP address or unix:// socket path")
    protocol = port.protocol.upper()
    tls = server.tls
    if protocol in TLS_PROTOCOLS and tls is None:
        out.add(f"{path}.tls", f"a {protocol} server needs tls settings")
    elif protocol not in TLS_PROTOCOLS and tls is not None:
        only_redirect = tls.model_fields_set <= {"https_redirect"}
        if not (protocol == "HTTP" and only_redirect):
            out.add(
                f"{path}.tls",
                f"a {protocol} server cannot have tls settings "
                "(only httpsRedirect, on HTTP servers)",
            )
    if tls is not None:
        check_server_tls(tls, f"{path}.tls", out)


def check_server_tls(tls: ServerTLSSettings, path: str, out: Issues) -> None:
    """Credentials each TLS mode requires or forbids, and protocol versions."""
    if count_set(tls.credential_name, tls.credential_names, tls.tls_certificates) > 1:
        out.add(path, "set only one of credentialName, credentialNames and tlsCertificates")
    mode = tls.mode or "PASSTHROUGH"
    if mode == "ISTIO_MUTUAL":
        for field, value in (
            ("serverCertificate", tls.server_certificate),
            ("privateKey", tls.private_key),
            ("caCertificates", tls.ca_certificates),
            ("credentialName", tls.credential_name),
        ):
            if value:
                out.add(
                    f"{path}.{field}",
                    f"ISTIO_MUTUAL uses Istio's certificates: leave {field} unset",
                )
    elif mode in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL"):
        remote = tls.credential_name or tls.credential_names or tls.tls_certificates
        if not remote:
            if not tls.server_certificate:
                out.add(
                    f"{path}.serverCertificate",
                    f"{mode} TLS needs serverCertificate (or credentialName)",
                )
            if not tls.private_key:
                out.add(f"{path}.privateKey", f"{mode} TLS needs privateKey (or credentialName)")
            if mode != "SIMPLE" and not (tls.ca_certificates or tls.ca_cert_credential_name):
                out.add(
                    f"{path}.caCertificates", f"{mode} TLS needs caCertificates (or credentialName)"
                )
        for i, cert in enumerate(tls.tls_certificates or ()):
            if not cert.server_certificate or not cert.private_key:
                out.add(
                    f"{path}.tlsCertificates[{i}]",
                    "each certificate needs serverCertificate and privateKey",
                )
    low, high = tls.min_protocol_version, tls.max_protocol_version
    if low and high and high != "TLS_AUTO" and _TLS_ORDER.index(low) > _TLS_ORDER.index(high):
        out.add(
            f"{path}.minProtocolVersion",
            f"minProtocolVersion {low} is above maxProtocolVersion {high}",
        )
