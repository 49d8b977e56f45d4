"""ServiceEntry, WorkloadEntry and WorkloadGroup rules."""

from __future__ import annotations

import re

from mizzen.api.hosts import check_fqdn, check_ip_or_cidr, check_wildcard_domain, is_ip
from mizzen.api.networking.service_entry import ServiceEntry
from mizzen.api.networking.workload_entry import (
    ReadinessProbe,
    WorkloadEntry,
    WorkloadEntrySpec,
    WorkloadGroup,
)
from mizzen.api.rules.common import (
    check_export_to,
    check_label_map,
    check_port,
    count_set,
)
from mizzen.api.rules.issues import Issues
from mizzen.api.rules.protocols import check_protocol

__all__ = ["check_service_entry", "check_workload_entry", "check_workload_group"]

_PORT_NAME = re.compile(r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")
_MAX_PORT_NAME = 63
UNIX = "unix://"


def _check_address(address: str, path: str, out: Issues, *, ip_only: bool) -> None:
    if address.startswith(UNIX):
        socket = address[len(UNIX) :]
        if not socket.startswith(("/", "@")):
            out.add(
                path, "UDS must be an absolute path or abstract socket (unix:///path, unix://@name)"
            )
        elif address.endswith("/"):
            out.add(path, "UDS may not be a dir")
        return
    if is_ip(address):
        return
    if ip_only:
        out.add(path, f"address {address!r} is not a valid IP address (resolution STATIC)")
        return
    problem = check_fqdn(address)
    if problem:
        out.add(path, f"address {address!r} is neither an IP address nor a host name: {problem}")


def _check_entry(
    entry: WorkloadEntrySpec,
    path: str,
    out: Issues,
    *,
    template: bool = False,
    ip_only: bool = False,
) -> None:
    """Shared by WorkloadEntry specs, ServiceEntry endpoints and WorkloadGroup templates."""
    if not template and entry.address is None and entry.network is None:
        out.add(f"{path}.address", "Address is required (or network, for a remote network)")
    if entry.address is not None:
        _check_address(entry.address, f"{path}.address", out, ip_only=ip_only)
        if entry.address.startswith(UNIX) and entry.ports is not None:
            out.add(f"{path}.ports", "UDS may not include ports")
    for name, number in (entry.ports or {}).items():
        where = f"{path}.ports[{name}]"
        if len(name) >= _MAX_PORT_NAME or _PORT_NAME.fullmatch(name) is None:
            out.add(where, f"port name {name!r} must be valid: a DNS label shorter than 63")
        check_port(number, where, out)
    check_label_map(entry.labels, f"{path}.labels", out)


def check_workload_entry(we: WorkloadEntry, out: Issues) -> None:
    """Address (IP, host name or unix socket) or network; ports; labels."""
    _check_entry(we.spec, "spec", out)


def _check_probe(probe: ReadinessProbe, path: str, out: Issues) -> None:
    methods = count_set(probe.http_get, probe.tcp_socket, probe.exec, probe.grpc)
    if methods != 1:
        out.add(path, "a probe needs exactly one of httpGet, tcpSocket, exec and grpc")
    if probe.http_get is not None:
        check_port(probe.http_get.port, f"{path}.httpGet.port", out)
        if probe.http_get.scheme not in (None, "", "HTTP", "HTTPS"):
            out.add(f"{path}.httpGet.scheme", "scheme must be one of [HTTP, HTTPS]")
    if probe.tcp_socket is not None:
        check_port(probe.tcp_socket.port, f"{path}.tcpSocket.port", out)
    if probe.grpc is not None and probe.grpc.port is not None:
        check_port(probe.grpc.port, f"{path}.grpc.port", out)
    if probe.exec is not None and not probe.exec.command:
        out.add(f"{path}.exec.command", "exec needs a command")


def check_workload_group(wg: WorkloadGroup, out: Issues) -> None:
    """Template (address optional), metadata labels, readiness probe."""
    spec = wg.spec
    _check_entry(spec.template, "spec.template", out, template=True)
    if spec.metadata is not None:
        check_label_map(spec.metadata.labels, "spec.metadata.labels", out)
    if spec.probe is not None:
        _check_probe(spec.probe, "spec.probe", out)


def _check_ports(se: ServiceEntry, out: Issues) -> set[str]:
    port_names: set[str] = set()
    port_numbers: set[int] = set()
    for i, port in enumerate(se.spec.ports or ()):
        where = f"spec.ports[{i}]"
        check_port(port.number, f"{where}.number", out)
        if port.target_port is not None:
            check_port(port.target_port, f"{where}.targetPort", out)
        if port.number in port_numbers:
            out.add(f"{where}.number", f"port number {port.number} cannot be duplicated")
        if port.name in port_names:
            out.add(f"{where}.name", f"port name {port.name!r} cannot be duplicated")
        port_numbers.add(port.number)
        port_names.add(port.name)
        if len(port.name) > _MAX_PORT_NAME or not _PORT_NAME.fullmatch(port.name):
            out.add(f"{where}.name", f"port name {port.name!r} must be a DNS label")
        if port.protocol:
            out.add_if(f"{where}.protocol", check_protocol(port.protocol))
    return port_names


def _check_hosts_and_addresses(se: ServiceEntry, resolution: str, out: Issues) -> None:
    spec = se.spec
    for i, host in enumerate(spec.hosts):
        if host == "*":
            out.add(f"spec.hosts[{i}]", "hostname cannot be wildcard '*': name the hosts")
            continue
        problem = check_wildcard_domain(host)
        out.add_if(f"spec.hosts[{i}]", problem)
        dns_only = resolution in ("DNS", "DNS_ROUND_ROBIN") and not spec.endpoints
        if not problem and dns_only and check_fqdn(host):
            out.add(
                f"spec.hosts[{i}]",
                f"host {host!r} has a wildcard: with resolution "
                f"{resolution} and no endpoints, hosts must be FQDNs",
            )
    for i, address in enumerate(spec.addresses or ()):
        out.add_if(f"spec.addresses[{i}]", check_ip_or_cidr(address))
        if "/" in address and resolution not in ("NONE", "STATIC"):
            out.add(
                f"spec.addresses[{i}]",
                "CIDR addresses are allowed only for NONE/STATIC resolution types",
            )


def _check_endpoints(se: ServiceEntry, resolution: str, port_names: set[str], out: Issues) -> None:
    spec = se.spec
    endpoints = spec.endpoints
    if resolution == "NONE" and endpoints is not None:
        out.add("spec.endpoints", "NONE mode cannot set endpoints")
    if resolution == "DNS_ROUND_ROBIN" and endpoints is not None and len(endpoints) > 1:
        out.add("spec.endpoints", "DNS_ROUND_ROBIN mode cannot have multiple endpoints")
    unix_endpoints = False
    for i, endpoint in enumerate(endpoints or ()):
        where = f"spec.endpoints[{i}]"
        _check_entry(endpoint, where, out, ip_only=resolution == "STATIC")
        unix_endpoints = unix_endpoints or (endpoint.address or "").startswith(UNIX)
        for name in endpoint.ports or {}:
            if spec.ports is not None and name not in port_names:
                out.add(
                    f"{where}.ports[{name}]",
                    f"endpoint port {name!r} is not one of the ServiceEntry's port names",
                )
    if unix_endpoints and len(spec.ports or ()) != 1:
        out.add("spec.ports", "unix socket endpoints need exactly one service port")


def check_service_entry(se: ServiceEntry, out: Issues) -> None:
    """Hosts, addresses, ports, resolution against endpoints, selector, exportTo."""
    spec = se.spec
    resolution = spec.resolution or "NONE"
    _check_hosts_and_addresses(se, resolution, out)
    port_names = _check_ports(se, out)
    if spec.workload_selector is not None and spec.endpoints is not None:
        out.add("spec", "only one of WorkloadSelector or Endpoints can be set")
    if spec.workload_selector is not None:
        check_label_map(spec.workload_selector.labels, "spec.workloadSelector.labels", out)
        for key, value in (spec.workload_selector.labels or {}).items():
            if "*" in value:
                out.add(
                    f"spec.workloadSelector.labels[{key}]", "wildcard is not supported in selector"
                )
    _check_endpoints(se, resolution, port_names, out)
    check_export_to(se.namespace, spec.export_to, out, service_entry=True)
