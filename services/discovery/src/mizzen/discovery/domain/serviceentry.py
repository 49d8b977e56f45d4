"""ServiceEntry and WorkloadEntry as registry services and endpoints (Istio's semantics).

* Every host of a ServiceEntry is a service (in the ServiceEntry's namespace) with its ports
  (protocol from ``protocol``, else from the port name's prefix), ``addresses``,
  ``resolution`` (default NONE; DYNAMIC_DNS is stored as DNS), ``location`` (default
  MESH_EXTERNAL) and ``exportTo`` (default every namespace).
* Its inline ``endpoints`` become endpoints of every host (source ``serviceentry``), named
  ``<serviceentry>:<index>``; its ``workloadSelector`` selects the WorkloadEntries of its
  namespace whose ``spec.labels`` contain the selector's labels (source ``workloadentry``),
  named after the WorkloadEntry.
* An endpoint receives a service port on the port its ``ports`` map gives for the port's name,
  else on the service port's ``targetPort``, else on the service port itself.
* Endpoints without an address (only a network, reached through its gateway) are skipped
  until multi-network support exists.
* Two ServiceEntries declaring one host: the first by (namespace, name) defines the service;
  the endpoints of both are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import structlog

from mizzen.api import ServiceEntry, WorkloadEntry
from mizzen.api.networking.workload_entry import WorkloadEntrySpec
from mizzen.discovery.domain.source import DesiredState
from mizzen.registry import (
    Endpoint,
    Locality,
    Protocol,
    Resolution,
    Service,
    ServicePort,
    frozen_map,
    protocol_from_port_name,
    protocol_of,
)

SERVICEENTRY_SOURCE = "serviceentry"
WORKLOADENTRY_SOURCE = "workloadentry"

_RESOLUTIONS = {
    "NONE": Resolution.NONE,
    "STATIC": Resolution.STATIC,
    "DNS": Resolution.DNS,
    "DNS_ROUND_ROBIN": Resolution.DNS_ROUND_ROBIN,
    # The registry has no separate value: Envoy resolves both asynchronously per request host.
    "DYNAMIC_DNS": Resolution.DNS,
}

log = structlog.get_logger(__name__)


def service_ports(entry: ServiceEntry) -> tuple[ServicePort, ...]:
    """The registry ports of a ServiceEntry, sorted by number."""
    ports = []
    for port in entry.spec.ports or ():
        protocol = protocol_of(port.protocol) if port.protocol else Protocol.UNKNOWN
        if protocol is Protocol.UNKNOWN:
            protocol = protocol_from_port_name(port.name)
        ports.append(ServicePort(port.number, protocol, port.name))
    return tuple(sorted(ports, key=lambda p: p.number))


def _service(entry: ServiceEntry, host: str) -> Service:
    spec = entry.spec
    return Service(
        hostname=host,
        namespace=entry.namespace,
        ports=service_ports(entry),
        labels=frozen_map(entry.metadata.labels),
        addresses=tuple(spec.addresses or ()),
        resolution=_RESOLUTIONS[spec.resolution or "NONE"],
        mesh_external=spec.location != "MESH_INTERNAL",
        export_to=tuple(spec.export_to or ("*",)),
        source=SERVICEENTRY_SOURCE,
    )


def _endpoint(
    entry: ServiceEntry,
    host: str,
    workload: WorkloadEntrySpec,
    *,
    name: str,
    source: str,
) -> Endpoint | None:
    if not workload.address:
        return None
    named: Mapping[str, int] = workload.ports or {}
    ports = {
        port.number: named.get(port.name) or port.target_port or port.number
        for port in entry.spec.ports or ()
    }
    return Endpoint(
        service=host,
        namespace=entry.namespace,
        workload=name,
        address=workload.address,
        ports=ports,
        labels=frozen_map(workload.labels),
        service_account=workload.service_account or "default",
        network=workload.network or "",
        locality=Locality.parse(workload.locality),
        weight=workload.weight or 1,
        source=source,
    )


def selects(entry: ServiceEntry, workload: WorkloadEntry) -> bool:
    """Whether ``entry``'s workloadSelector selects ``workload`` (same namespace, labels ⊇)."""
    selector = entry.spec.workload_selector
    if selector is None or workload.namespace != entry.namespace:
        return False
    labels = workload.spec.labels or {}
    return all(labels.get(key) == value for key, value in (selector.labels or {}).items())


def desired_from_config(
    service_entries: Iterable[ServiceEntry], workload_entries: Iterable[WorkloadEntry]
) -> DesiredState:
    """The registry content that ``service_entries`` and ``workload_entries`` stand for.

    Deterministic: the same resources in any order give the same state (services sorted by
    host name, endpoints by host name and endpoint id).
    """
    entries = sorted(service_entries, key=lambda e: (e.namespace, e.name))
    workloads = sorted(workload_entries, key=lambda w: (w.namespace, w.name))
    services: dict[str, Service] = {}
    owners: dict[str, str] = {}
    endpoints: dict[tuple[str, str], Endpoint] = {}
    for entry in entries:
        for host in entry.spec.hosts:
            if host in services:
                log.warning(
                    "serviceentry host declared twice",
                    host=host,
                    kept=owners[host],
                    ignored=f"{entry.namespace}/{entry.name}",
                )
            else:
                services[host] = _service(entry, host)
                owners[host] = f"{entry.namespace}/{entry.name}"
            candidates = [
                _endpoint(
                    entry, host, workload, name=f"{entry.name}:{index}", source=SERVICEENTRY_SOURCE
                )
                for index, workload in enumerate(entry.spec.endpoints or ())
            ] + [
                _endpoint(
                    entry, host, workload.spec, name=workload.name, source=WORKLOADENTRY_SOURCE
                )
                for workload in workloads
                if selects(entry, workload)
            ]
            for endpoint in candidates:
                if endpoint is not None:
                    endpoints.setdefault((host, endpoint.endpoint_id), endpoint)
    return DesiredState(
        services=tuple(services[host] for host in sorted(services)),
        endpoints=tuple(endpoints[key] for key in sorted(endpoints)),
    )
