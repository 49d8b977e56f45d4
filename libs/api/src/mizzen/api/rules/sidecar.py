"""Sidecar rules: listeners, egress hosts, outbound policy."""

from __future__ import annotations

import re

from mizzen.api.hosts import check_namespace_slash_host, check_wildcard_domain, is_ip
from mizzen.api.networking.sidecar import (
    IstioEgressListener,
    IstioIngressListener,
    OutboundTrafficPolicy,
    Sidecar,
    SidecarPort,
)
from mizzen.api.rules.common import check_label_map, check_port, check_subset_name
from mizzen.api.rules.gateway import check_server_tls
from mizzen.api.rules.issues import Issues
from mizzen.api.rules.protocols import check_protocol
from mizzen.api.rules.traffic_policy import check_connection_pool

__all__ = ["check_sidecar"]

_DEFAULT_ENDPOINT = re.compile(r"(?:127\.0\.0\.1|0\.0\.0\.0|\[::1\]|\[::\]):([0-9]+)")
UNIX = "unix://"


def _check_port(port: SidecarPort, path: str, out: Issues, *, required: bool) -> None:
    if port.number is None:
        if required:
            out.add(f"{path}.number", "port number is required")
    else:
        check_port(port.number, f"{path}.number", out)
    if port.target_port is not None:
        check_port(port.target_port, f"{path}.targetPort", out)
    if port.protocol:
        out.add_if(f"{path}.protocol", check_protocol(port.protocol))


def _check_bind(bind: str | None, path: str, out: Issues, *, allow_unix: bool) -> None:
    if not bind:
        return
    if is_ip(bind):
        return
    if allow_unix and bind.startswith(UNIX) and len(bind) > len(UNIX):
        return
    allowed = "an IP address or unix:// socket" if allow_unix else "an IP address"
    out.add(path, f"bind {bind!r} must be {allowed}")


def check_sidecar(sc: Sidecar, out: Issues) -> None:
    """Selector labels; ingress ports, binds and default endpoints; egress hosts."""
    spec = sc.spec
    if spec.workload_selector is not None:
        labels = spec.workload_selector.labels
        if not labels:
            out.add("spec.workloadSelector.labels", "workloadSelector needs at least one label")
        check_label_map(labels, "spec.workloadSelector.labels", out)
        for key, value in (labels or {}).items():
            if "*" in value:
                out.add(
                    f"spec.workloadSelector.labels[{key}]", "wildcard is not supported in selector"
                )
    if not (
        spec.ingress or spec.egress or spec.outbound_traffic_policy or spec.inbound_connection_pool
    ):
        out.add(
            "spec",
            "empty Sidecar: set ingress, egress, outboundTrafficPolicy or inboundConnectionPool",
        )
    _check_ingress(spec.ingress or [], out)
    _check_egress(spec.egress or [], out)
    if spec.inbound_connection_pool is not None:
        check_connection_pool(spec.inbound_connection_pool, "spec.inboundConnectionPool", out)
    if spec.outbound_traffic_policy is not None:
        _check_outbound(spec.outbound_traffic_policy, out)


def _check_default_endpoint(endpoint: str, path: str, out: Issues) -> None:
    match = _DEFAULT_ENDPOINT.fullmatch(endpoint)
    if match:
        check_port(int(match.group(1)), path, out)
    elif not (endpoint.startswith(UNIX) and len(endpoint) > len(UNIX)):
        out.add(
            path,
            "defaultEndpoint must be 127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT, "
            "[::]:PORT or unix:///path",
        )


def _check_ingress(listeners: list[IstioIngressListener], out: Issues) -> None:
    ingress_ports: set[tuple[str, int]] = set()
    for i, listener in enumerate(listeners):
        where = f"spec.ingress[{i}]"
        _check_port(listener.port, f"{where}.port", out, required=True)
        _check_bind(listener.bind, f"{where}.bind", out, allow_unix=False)
        number = listener.port.number
        if number is not None:
            key = (listener.bind or "", number)
            if key in ingress_ports:
                out.add(
                    f"{where}.port.number", f"port {number} is used by another ingress listener"
                )
            ingress_ports.add(key)
        if listener.default_endpoint:
            _check_default_endpoint(listener.default_endpoint, f"{where}.defaultEndpoint", out)
        if listener.tls is not None:
            check_server_tls(listener.tls, f"{where}.tls", out)
        if listener.connection_pool is not None:
            check_connection_pool(listener.connection_pool, f"{where}.connectionPool", out)


def _check_egress(listeners: list[IstioEgressListener], out: Issues) -> None:
    catch_all = 0
    for i, listener in enumerate(listeners):
        where = f"spec.egress[{i}]"
        if listener.port is not None:
            _check_port(listener.port, f"{where}.port", out, required=False)
        else:
            catch_all += 1
            if catch_all > 1:
                out.add(f"{where}.port", "only one egress listener may omit port")
            elif i != len(listeners) - 1:
                out.add(f"{where}.port", "the egress listener without a port must be the last")
        _check_bind(listener.bind, f"{where}.bind", out, allow_unix=True)
        if not listener.hosts:
            out.add(f"{where}.hosts", "an egress listener needs at least one host")
        for j, host in enumerate(listener.hosts):
            out.add_if(
                f"{where}.hosts[{j}]", check_namespace_slash_host(host, namespace_required=True)
            )


def _check_outbound(policy: OutboundTrafficPolicy, out: Issues) -> None:
    proxy = policy.egress_proxy
    if proxy is None:
        return
    where = "spec.outboundTrafficPolicy.egressProxy"
    if policy.mode != "ALLOW_ANY":
        out.add(where, "egressProxy may be set only with mode ALLOW_ANY")
    if "*" in proxy.host:
        out.add(f"{where}.host", "egressProxy host must be a host name without wildcards")
    else:
        out.add_if(f"{where}.host", check_wildcard_domain(proxy.host))
    if proxy.subset is not None:
        check_subset_name(proxy.subset, f"{where}.subset", out)
    if proxy.port is None or proxy.port.number is None:
        out.add(f"{where}.port", "egressProxy needs a port")
    else:
        check_port(proxy.port.number, f"{where}.port.number", out)
