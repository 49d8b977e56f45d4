"""A workload registration: validated, then turned into registry services and endpoints."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from mizzen.discovery.domain.errors import InvalidRegistration, Violation
from mizzen.discovery.domain.validation import (
    address_problem,
    dns_label_problem,
    dns_subdomain_problem,
    label_key_problem,
    label_value_problem,
    port_problem,
)
from mizzen.registry import (
    DEFAULT_DOMAIN,
    Endpoint,
    Health,
    Locality,
    Protocol,
    Service,
    ServicePort,
    frozen_map,
    protocol_from_port_name,
    protocol_of,
    service_hostname,
)

AGENT_SOURCE = "agent"
"""The ``source`` of every registry value written for a registration."""

DEFAULT_NAMESPACE = "default"
DEFAULT_SERVICE_ACCOUNT = "default"

_Check = Callable[[str, "str | None"], None]
_PROTOCOLS = ", ".join(p.value for p in Protocol if p is not Protocol.UNKNOWN)


@dataclass(frozen=True, slots=True)
class PortSpec:
    """A served port as the agent sent it (``endpoint_port`` 0: same as ``number``)."""

    number: int
    endpoint_port: int = 0
    protocol: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class ServedServiceSpec:
    """A served service as the agent sent it: a bare name or a host name, and its ports."""

    service: str
    ports: tuple[PortSpec, ...]


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """A registration as the agent sent it, before validation (``health`` None: HEALTHY)."""

    name: str
    namespace: str
    address: str
    services: tuple[ServedServiceSpec, ...]
    labels: Mapping[str, str] = dataclasses.field(default_factory=frozen_map)
    service_account: str = ""
    network: str = ""
    locality: Locality = dataclasses.field(default_factory=Locality)
    weight: int = 0
    health: Health | None = None


@dataclass(frozen=True, slots=True)
class RegisteredWorkload:
    """A valid registration: the services it serves and its endpoint in each of them.

    ``services`` carry only this workload's ports (the writer merges them with what is
    stored); ``endpoints`` are in the order of ``services``.
    """

    name: str
    namespace: str
    address: str
    health: Health
    services: tuple[Service, ...]
    endpoints: tuple[Endpoint, ...]

    @property
    def hostnames(self) -> tuple[str, ...]:
        """The host names of the served services, in the order registered."""
        return tuple(s.hostname for s in self.services)

    def with_health(self, health: Health) -> RegisteredWorkload:
        """The same registration with every endpoint at ``health``."""
        return dataclasses.replace(
            self,
            health=health,
            endpoints=tuple(dataclasses.replace(e, health=health) for e in self.endpoints),
        )


def validate_workload(spec: WorkloadSpec, *, domain: str = DEFAULT_DOMAIN) -> RegisteredWorkload:
    """Check every field of ``spec`` and build its registry values.

    Raises :class:`InvalidRegistration` naming every bad field (paths as in the protobuf
    request: ``workload.services[0].ports[1].number``). Defaults: namespace and service account
    ``default``, weight 1, health HEALTHY, endpoint port = service port, protocol from the port
    name's prefix else HTTP, port name ``<protocol>-<number>``.
    """
    violations: list[Violation] = []

    def check(field: str, problem: str | None) -> None:
        if problem is not None:
            violations.append(Violation(field, problem))

    namespace = spec.namespace or DEFAULT_NAMESPACE
    service_account = spec.service_account or DEFAULT_SERVICE_ACCOUNT
    check("workload.name", dns_label_problem(spec.name))
    check("workload.namespace", dns_label_problem(namespace))
    check("workload.address", address_problem(spec.address))
    check("workload.service_account", dns_subdomain_problem(service_account))
    for key, value in spec.labels.items():
        check(f"workload.labels[{key}]", label_key_problem(key) or label_value_problem(value))
    for part in ("region", "zone", "sub_zone"):
        if "/" in getattr(spec.locality, part):
            check(f"workload.locality.{part}", "must not contain '/'")
    if not spec.services:
        check("workload.services", "at least one served service is required")

    served: list[tuple[Service, dict[int, int]]] = []
    seen_hosts: dict[str, int] = {}
    for index, spec_service in enumerate(spec.services):
        path = f"workload.services[{index}]"
        hostname, service_namespace, problem = _resolve_host(
            spec_service.service, namespace, domain
        )
        check(f"{path}.service", problem)
        if problem is None and hostname in seen_hosts:
            check(
                f"{path}.service",
                f"{hostname} is already listed at services[{seen_hosts[hostname]}]",
            )
        seen_hosts.setdefault(hostname, index)
        ports = _ports(spec_service.ports, path, check)
        service = Service(
            hostname=hostname,
            namespace=service_namespace,
            ports=tuple(sorted((p for p, _ in ports), key=lambda p: p.number)),
            source=AGENT_SOURCE,
        )
        served.append((service, {p.number: target for p, target in ports}))
    if violations:
        raise InvalidRegistration(violations)

    health = spec.health or Health.HEALTHY
    endpoints = tuple(
        Endpoint(
            service=service.hostname,
            namespace=namespace,
            workload=spec.name,
            address=spec.address,
            ports=endpoint_ports,
            labels=frozen_map(spec.labels),
            service_account=service_account,
            network=spec.network,
            locality=spec.locality,
            weight=spec.weight or 1,
            health=health,
            source=AGENT_SOURCE,
        )
        for service, endpoint_ports in served
    )
    return RegisteredWorkload(
        name=spec.name,
        namespace=namespace,
        address=spec.address,
        health=health,
        services=tuple(service for service, _ in served),
        endpoints=endpoints,
    )


def _resolve_host(service: str, namespace: str, domain: str) -> tuple[str, str, str | None]:
    """(host name, the service's namespace, problem) for a served service's name."""
    if "." not in service:
        problem = dns_label_problem(service)
        return service_hostname(service, namespace, domain), namespace, problem
    problem = dns_subdomain_problem(service)
    parts = service.split(".")
    suffix = f".svc.{domain}"
    # <name>.<namespace>.svc.<domain> belongs to that namespace; other hosts to the workload's.
    if service.endswith(suffix) and len(parts) == 3 + domain.count(".") + 1:
        return service, parts[1], problem
    return service, namespace, problem


def _ports(specs: tuple[PortSpec, ...], path: str, check: _Check) -> list[tuple[ServicePort, int]]:
    """The service ports and their endpoint ports; problems go to ``check``."""
    if not specs:
        check(f"{path}.ports", "at least one port is required")
    ports: list[tuple[ServicePort, int]] = []
    seen: dict[int, int] = {}
    for index, spec in enumerate(specs):
        where = f"{path}.ports[{index}]"
        check(f"{where}.number", port_problem(spec.number))
        if spec.number in seen:
            check(
                f"{where}.number",
                f"port {spec.number} is already listed at ports[{seen[spec.number]}]",
            )
        seen.setdefault(spec.number, index)
        if spec.endpoint_port:
            check(f"{where}.endpoint_port", port_problem(spec.endpoint_port))
        if spec.name:
            check(f"{where}.name", dns_label_problem(spec.name))
        protocol = Protocol.UNKNOWN
        if spec.protocol:
            protocol = protocol_of(spec.protocol)
            if protocol is Protocol.UNKNOWN:
                check(
                    f"{where}.protocol",
                    f"unknown protocol {spec.protocol!r}; use one of {_PROTOCOLS}",
                )
        elif spec.name:
            protocol = protocol_from_port_name(spec.name)
        if protocol is Protocol.UNKNOWN:
            protocol = Protocol.HTTP
        name = spec.name or f"{protocol.value.lower()}-{spec.number}"
        ports.append((ServicePort(spec.number, protocol, name), spec.endpoint_port or spec.number))
    return ports
