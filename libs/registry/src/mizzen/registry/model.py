"""The registry's one normalized model: services and the endpoints that serve them.

Every source (agents registering workloads, ServiceEntry/WorkloadEntry, Kubernetes later)
is turned into these values; the translator reads nothing else about the world.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

DEFAULT_DOMAIN = "cluster.local"


class Protocol(enum.StrEnum):
    """A port's application protocol, as Istio names them."""

    HTTP = "HTTP"
    HTTP2 = "HTTP2"
    GRPC = "GRPC"
    GRPC_WEB = "GRPC-Web"
    HTTPS = "HTTPS"
    TLS = "TLS"
    TCP = "TCP"
    MONGO = "Mongo"
    REDIS = "Redis"
    MYSQL = "MySQL"
    UNKNOWN = "UNKNOWN"

    @property
    def is_http(self) -> bool:
        """Routed by Envoy's HTTP connection manager (HTTP/1.1, HTTP/2, gRPC)."""
        return self in (Protocol.HTTP, Protocol.HTTP2, Protocol.GRPC, Protocol.GRPC_WEB)

    @property
    def is_http2(self) -> bool:
        """Needs HTTP/2 to the upstream."""
        return self in (Protocol.HTTP2, Protocol.GRPC, Protocol.GRPC_WEB)


_BY_NAME = {p.value.lower(): p for p in Protocol}


def protocol_of(value: str) -> Protocol:
    """The protocol named ``value`` (case-insensitive), or UNKNOWN."""
    return _BY_NAME.get(value.lower(), Protocol.UNKNOWN)


def protocol_from_port_name(port_name: str) -> Protocol:
    """Istio's protocol selection by port name: ``http``, ``http-web``, ``grpc-api``, ..."""
    return protocol_of(port_name.split("-", 1)[0])


class Resolution(enum.StrEnum):
    """How a service's endpoints are found (ServiceEntry's resolution)."""

    STATIC = "STATIC"
    DNS = "DNS"
    DNS_ROUND_ROBIN = "DNS_ROUND_ROBIN"
    NONE = "NONE"


class Health(enum.StrEnum):
    """An endpoint's health as the registry knows it."""

    HEALTHY = "HEALTHY"
    UNHEALTHY = "UNHEALTHY"
    DRAINING = "DRAINING"


def frozen_map(values: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """An immutable copy of ``values`` (sorted by key, so equal maps compare and print equal)."""
    return MappingProxyType(dict(sorted((values or {}).items())))


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One port of a service: its number, name and protocol."""

    number: int
    protocol: Protocol = Protocol.HTTP
    name: str = ""


@dataclass(frozen=True, slots=True)
class Service:
    """A service, by its fully qualified hostname (``reviews.default.svc.cluster.local``).

    ``addresses`` are virtual IPs if any; ``mesh_external`` marks services outside the mesh
    (no mTLS to them); ``export_to`` lists namespaces that may see it (``*``: all, ``.``: own).
    """

    hostname: str
    namespace: str
    ports: tuple[ServicePort, ...]
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    addresses: tuple[str, ...] = ()
    resolution: Resolution = Resolution.STATIC
    mesh_external: bool = False
    export_to: tuple[str, ...] = ("*",)
    source: str = ""

    def port(self, number: int) -> ServicePort | None:
        """The port with ``number``, if the service has it."""
        return next((p for p in self.ports if p.number == number), None)

    def visible_from(self, namespace: str) -> bool:
        """Whether a proxy in ``namespace`` may see this service (exportTo)."""
        return any(
            scope in ("*", namespace) or (scope == "." and namespace == self.namespace)
            for scope in self.export_to
        )


@dataclass(frozen=True, slots=True)
class Locality:
    """Where an endpoint runs: ``region/zone/sub_zone`` (any part may be empty)."""

    region: str = ""
    zone: str = ""
    sub_zone: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.region, self.zone, self.sub_zone) if p)

    @classmethod
    def parse(cls, text: str | None) -> Locality:
        """Istio's ``region/zone/sub_zone`` notation (missing parts empty; the sub-zone keeps
        any further slashes)."""
        region, zone, sub_zone = [*(text or "").split("/", 2), "", "", ""][:3]
        return cls(region, zone, sub_zone)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One workload instance serving a service.

    ``ports`` maps a service port number to the port this endpoint receives it on (for a
    meshed workload, its sidecar's inbound port). ``workload`` names the instance uniquely in
    its namespace (an agent's workload name, a WorkloadEntry's name, a pod name).
    """

    service: str
    namespace: str
    workload: str
    address: str
    ports: Mapping[int, int]
    labels: Mapping[str, str] = field(default_factory=frozen_map)
    service_account: str = "default"
    network: str = ""
    locality: Locality = Locality()
    weight: int = 1
    health: Health = Health.HEALTHY
    source: str = ""

    @property
    def endpoint_id(self) -> str:
        """Unique among the service's endpoints: ``<namespace>.<workload>``."""
        return f"{self.namespace}.{self.workload}"


def service_hostname(name: str, namespace: str, domain: str = DEFAULT_DOMAIN) -> str:
    """The FQDN of a mesh-internal service: ``<name>.<namespace>.svc.<domain>``."""
    return f"{name}.{namespace}.svc.{domain}"
