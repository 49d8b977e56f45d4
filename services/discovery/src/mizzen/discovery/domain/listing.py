"""The registry grouped for reading: workloads (an instance's endpoints together) and services
with endpoint counts. What ``ListWorkloads``/``ListServices`` answer."""

from __future__ import annotations

from dataclasses import dataclass

from mizzen.registry import Endpoint, Health, Registry, Service


@dataclass(frozen=True, slots=True)
class WorkloadListing:
    """One workload instance: its endpoints (one per service it serves), same source.

    The identity fields (address, labels, ...) are those of its first endpoint; a
    registration writes the same ones in every endpoint.
    """

    namespace: str
    name: str
    source: str
    endpoints: tuple[Endpoint, ...]

    @property
    def first(self) -> Endpoint:
        """The endpoint whose identity fields describe the workload."""
        return self.endpoints[0]


@dataclass(frozen=True, slots=True)
class ServiceListing:
    """A service and how many endpoints it has (``healthy``: how many are HEALTHY)."""

    service: Service
    endpoints: int
    healthy: int


def list_workloads(
    registry: Registry, *, namespace: str = "", source: str = ""
) -> list[WorkloadListing]:
    """The workloads in ``registry`` (filtered when ``namespace``/``source`` are given),
    sorted by namespace, name and source; each workload's endpoints sorted by service."""
    groups: dict[tuple[str, str, str], list[Endpoint]] = {}
    for endpoints in registry.endpoints.values():
        for endpoint in endpoints:
            if namespace and endpoint.namespace != namespace:
                continue
            if source and endpoint.source != source:
                continue
            key = (endpoint.namespace, endpoint.workload, endpoint.source)
            groups.setdefault(key, []).append(endpoint)
    return [
        WorkloadListing(ns, name, src, tuple(sorted(eps, key=lambda e: e.service)))
        for (ns, name, src), eps in sorted(groups.items())
    ]


def list_services(registry: Registry, *, namespace: str = "") -> list[ServiceListing]:
    """The services in ``registry`` (of ``namespace`` when given), sorted by host name."""
    return [
        ServiceListing(
            service,
            endpoints=len(registry.endpoints_of(hostname)),
            healthy=sum(e.health is Health.HEALTHY for e in registry.endpoints_of(hostname)),
        )
        for hostname, service in sorted(registry.services.items())
        if not namespace or service.namespace == namespace
    ]
