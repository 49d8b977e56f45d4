"""Istio's names for Envoy resources and proxies, built and parsed.

Mizzen names what it generates exactly as istiod does, so that anyone who reads an Istio
config dump can read ours:

- clusters: ``outbound|9080|v1|reviews.default.svc.cluster.local`` (direction, port, subset,
  host; Istio calls it a "subset key"), ``inbound|9080||``, and the fixed
  ``BlackHoleCluster``, ``PassthroughCluster``, ``InboundPassthroughCluster``
  (``...Ipv4``/``...Ipv6`` in older Istio releases);
- route configurations: by port (``9080``), by host and port for sniffed listeners
  (``reviews.default.svc.cluster.local:9080``), ``http_proxy`` for the HTTP-proxy listener,
  the inbound cluster name for inbound routes, and ``http.8080`` /
  ``https.443.<port name>.<gateway>.<namespace>`` on gateways;
- virtual hosts: ``reviews.default.svc.cluster.local:9080``, ``allow_any``, ``block_all``,
  ``inbound|http|9080``;
- node ids: ``sidecar~10.1.2.3~reviews-v1-abc.default~default.svc.cluster.local`` (type, IP,
  ``<workload>.<namespace>``, the proxy's DNS domain).

Every name is a frozen dataclass whose ``str()`` is the name and whose ``parse`` reverses it
(``X.parse(str(x)) == x``); parsing raises :class:`~mizzen.envoy.errors.InvalidNameError`.
The virtual host *domains* Istio generates live in :mod:`mizzen.envoy.domains`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from typing import Self

from mizzen.envoy.errors import InvalidNameError

__all__ = [
    "ALLOW_ANY_VIRTUAL_HOST",
    "BLACKHOLE_CLUSTER",
    "BLOCK_ALL_VIRTUAL_HOST",
    "DEFAULT_DNS_SUFFIX",
    "HTTP_PROXY_ROUTE",
    "INBOUND_PASSTHROUGH_CLUSTER",
    "INBOUND_PASSTHROUGH_CLUSTER_IPV4",
    "INBOUND_PASSTHROUGH_CLUSTER_IPV6",
    "PASSTHROUGH_CLUSTER",
    "SPECIAL_CLUSTERS",
    "ClusterName",
    "NodeId",
    "ProxyType",
    "RouteKind",
    "RouteName",
    "TrafficDirection",
    "host_port",
    "inbound_cluster_name",
    "inbound_virtual_host_name",
    "ipv6_compliant",
    "outbound_cluster_name",
    "virtual_host_name",
]

DEFAULT_DNS_SUFFIX = "cluster.local"
"""The cluster DNS suffix Istio assumes unless told otherwise."""

BLACKHOLE_CLUSTER = "BlackHoleCluster"
"""The cluster that drops traffic (Istio's REGISTRY_ONLY outbound policy)."""
PASSTHROUGH_CLUSTER = "PassthroughCluster"
"""The ORIGINAL_DST cluster for unknown outbound destinations (ALLOW_ANY)."""
INBOUND_PASSTHROUGH_CLUSTER = "InboundPassthroughCluster"
"""The ORIGINAL_DST cluster for inbound traffic to undeclared ports (current Istio)."""
INBOUND_PASSTHROUGH_CLUSTER_IPV4 = "InboundPassthroughClusterIpv4"
"""The IPv4 inbound passthrough cluster of Istio releases before dual-stack support."""
INBOUND_PASSTHROUGH_CLUSTER_IPV6 = "InboundPassthroughClusterIpv6"
"""The IPv6 inbound passthrough cluster of Istio releases before dual-stack support."""
SPECIAL_CLUSTERS: frozenset[str] = frozenset(
    {
        BLACKHOLE_CLUSTER,
        PASSTHROUGH_CLUSTER,
        INBOUND_PASSTHROUGH_CLUSTER,
        INBOUND_PASSTHROUGH_CLUSTER_IPV4,
        INBOUND_PASSTHROUGH_CLUSTER_IPV6,
    }
)
"""Cluster names that are not subset keys."""

HTTP_PROXY_ROUTE = "http_proxy"
"""The route configuration of an HTTP-proxy listener: every service on every port."""
ALLOW_ANY_VIRTUAL_HOST = "allow_any"
"""The catch-all virtual host (``*``) routing unknown hosts to ``PassthroughCluster``."""
BLOCK_ALL_VIRTUAL_HOST = "block_all"
"""The catch-all virtual host answering 502 when the outbound policy is REGISTRY_ONLY."""

_MAX_PORT = 65535


def _check_port(kind: str, name: str, port: int, *, allow_zero: bool = False) -> None:
    if not (0 if allow_zero else 1) <= port <= _MAX_PORT:
        raise InvalidNameError(kind, name, f"port {port} is outside 1..65535")


def _parse_port(kind: str, name: str, text: str) -> int:
    if not text.isdigit() or (len(text) > 1 and text.startswith("0")):
        raise InvalidNameError(kind, name, f"port {text!r} is not a decimal number")
    port = int(text)
    _check_port(kind, name, port)
    return port


def ipv6_compliant(host: str) -> str:
    """``host`` as it appears before ``:port``: IPv6 literals in brackets, the rest unchanged."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def host_port(host: str, port: int) -> str:
    """``host:port`` (``[::1]:9080`` for IPv6 literals), Istio's ``util.DomainName``."""
    return f"{ipv6_compliant(host)}:{port}"


class TrafficDirection(StrEnum):
    """The first field of a subset key."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


@dataclass(frozen=True, slots=True)
class ClusterName:
    """A cluster named by Istio's subset key ``direction|port|subset|host``.

    Outbound clusters name the destination host and, for a DestinationRule subset, the subset
    (``outbound|9080|v1|reviews.default.svc.cluster.local``; ``outbound|9080||reviews...``
    without). Inbound clusters carry only the port (``inbound|9080||``) since Istio 1.10;
    the older ``inbound|9080|http|reviews...`` form parses too. ``host`` is kept as given:
    Istio's hosts are lower case, and so are ours.
    """

    direction: TrafficDirection
    port: int
    subset: str = ""
    host: str = ""

    def __post_init__(self) -> None:
        name = f"{self.direction}|{self.port}|{self.subset}|{self.host}"
        _check_port("cluster name", name, self.port)
        if "|" in self.subset or "|" in self.host:
            raise InvalidNameError("cluster name", name, "subset and host cannot contain '|'")
        if self.direction is TrafficDirection.OUTBOUND and not self.host:
            raise InvalidNameError("cluster name", name, "an outbound cluster needs a host")

    def __str__(self) -> str:
        return f"{self.direction}|{self.port}|{self.subset}|{self.host}"

    @classmethod
    def parse(cls, name: str) -> Self:
        """Parse ``direction|port|subset|host``. The special clusters (``BlackHoleCluster``...)
        are not subset keys and raise :class:`InvalidNameError` like any other bad name."""
        parts = name.split("|")
        if len(parts) != 4:
            raise InvalidNameError("cluster name", name, "expected direction|port|subset|host")
        direction, port, subset, host = parts
        try:
            parsed_direction = TrafficDirection(direction)
        except ValueError as exc:
            raise InvalidNameError(
                "cluster name", name, "direction must be 'inbound' or 'outbound'"
            ) from exc
        return cls(parsed_direction, _parse_port("cluster name", name, port), subset, host)

    def sni(self) -> str:
        """The SNI form Istio uses for AUTO_PASSTHROUGH gateways:
        ``outbound_.9080_.v1_.reviews.default.svc.cluster.local``."""
        return f"{self.direction}_.{self.port}_.{self.subset}_.{self.host}"

    @classmethod
    def parse_sni(cls, sni: str) -> Self:
        """Reverse :meth:`sni`; raises :class:`InvalidNameError`."""
        parts = sni.split("_.", 3)
        if len(parts) != 4:
            raise InvalidNameError("cluster SNI", sni, "expected direction_.port_.subset_.host")
        direction, port, subset, host = parts
        try:
            parsed_direction = TrafficDirection(direction)
        except ValueError as exc:
            raise InvalidNameError(
                "cluster SNI", sni, "direction must be 'inbound' or 'outbound'"
            ) from exc
        return cls(parsed_direction, _parse_port("cluster SNI", sni, port), subset, host)


def outbound_cluster_name(host: str, port: int, subset: str = "") -> str:
    """``outbound|<port>|<subset>|<host>``, e.g. ``outbound|9080|v1|reviews.default.svc...``."""
    return str(ClusterName(TrafficDirection.OUTBOUND, port, subset, host))


def inbound_cluster_name(port: int) -> str:
    """``inbound|<port>||``: the cluster (and route configuration) of an inbound port."""
    return str(ClusterName(TrafficDirection.INBOUND, port))


class RouteKind(StrEnum):
    """What a route configuration serves, which decides how it is named."""

    OUTBOUND_PORT = "outbound_port"  # "9080": every HTTP service on a port
    OUTBOUND_HOST_PORT = "outbound_host_port"  # "reviews.default.svc.cluster.local:9080"
    HTTP_PROXY = "http_proxy"  # "http_proxy": the HTTP-proxy listener, all ports
    INBOUND = "inbound"  # "inbound|9080||": a sidecar's inbound port
    GATEWAY_HTTP = "gateway_http"  # "http.8080" (+ ".<bind>")
    GATEWAY_HTTPS = "gateway_https"  # "https.443.<port name>.<gateway>.<namespace>" (+ ".<bind>")


@dataclass(frozen=True, slots=True)
class RouteName:
    """The name of a RouteConfiguration, as istiod names it.

    Build with the class methods (``RouteName.outbound(9080)``...), print with ``str()``,
    read with :meth:`parse`. Fields that a kind does not use stay empty (``""`` / ``0``).

    Gateway names follow Istio's ``gatewayRDSRouteName``: ``http.<port>`` for plain HTTP
    servers and ``https.<port>.<port name>.<gateway>.<namespace>`` for TLS-terminating HTTPS
    servers, each followed by ``.<bind>`` when the server binds a specific address. Parsing
    an HTTPS name assumes, as Istio's own parser does, that the port name, gateway name and
    namespace contain no dots; everything after the namespace is the bind address.
    """

    kind: RouteKind
    port: int = 0
    host: str = ""
    port_name: str = ""
    gateway: str = ""
    namespace: str = ""
    bind: str = ""

    def __post_init__(self) -> None:
        if self.kind is not RouteKind.HTTP_PROXY:
            _check_port("route name", f"{self.kind}:{self.port}", self.port)
        if self.kind is RouteKind.OUTBOUND_HOST_PORT and not self.host:
            raise InvalidNameError("route name", f":{self.port}", "a host:port route needs a host")
        if self.kind is RouteKind.GATEWAY_HTTPS:
            for field, value in (
                ("port name", self.port_name),
                ("gateway", self.gateway),
                ("namespace", self.namespace),
            ):
                if not value or "." in value:
                    raise InvalidNameError(
                        "route name", f"https.{self.port}", f"{field} must be set, without dots"
                    )

    @classmethod
    def outbound(cls, port: int) -> Self:
        """The outbound route configuration of a port: ``"9080"``."""
        return cls(RouteKind.OUTBOUND_PORT, port=port)

    @classmethod
    def outbound_host(cls, host: str, port: int) -> Self:
        """The route configuration of a sniffed listener for one service:
        ``reviews.default.svc.cluster.local:9080``."""
        return cls(RouteKind.OUTBOUND_HOST_PORT, port=port, host=host)

    @classmethod
    def http_proxy(cls) -> Self:
        """The route configuration of the HTTP-proxy listener: ``http_proxy``."""
        return cls(RouteKind.HTTP_PROXY)

    @classmethod
    def inbound(cls, port: int) -> Self:
        """The inbound route configuration of a port, named like its cluster:
        ``inbound|9080||``."""
        return cls(RouteKind.INBOUND, port=port)

    @classmethod
    def gateway_http(cls, port: int, bind: str = "") -> Self:
        """A gateway's plain-HTTP route configuration: ``http.8080`` (``http.8080.<bind>``)."""
        return cls(RouteKind.GATEWAY_HTTP, port=port, bind=bind)

    @classmethod
    def gateway_https(
        cls, port: int, port_name: str, gateway: str, namespace: str, bind: str = ""
    ) -> Self:
        """A gateway's HTTPS server route configuration:
        ``https.443.<port name>.<gateway>.<namespace>`` (``.<bind>`` appended when set)."""
        return cls(
            RouteKind.GATEWAY_HTTPS,
            port=port,
            port_name=port_name,
            gateway=gateway,
            namespace=namespace,
            bind=bind,
        )

    def __str__(self) -> str:
        bind = f".{self.bind}" if self.bind else ""
        match self.kind:
            case RouteKind.OUTBOUND_PORT:
                return str(self.port)
            case RouteKind.OUTBOUND_HOST_PORT:
                return host_port(self.host, self.port)
            case RouteKind.HTTP_PROXY:
                return HTTP_PROXY_ROUTE
            case RouteKind.INBOUND:
                return inbound_cluster_name(self.port)
            case RouteKind.GATEWAY_HTTP:
                return f"http.{self.port}{bind}"
            case RouteKind.GATEWAY_HTTPS:
                return f"https.{self.port}.{self.port_name}.{self.gateway}.{self.namespace}{bind}"

    @classmethod
    def parse(cls, name: str) -> Self:
        """Read any route configuration name this class prints; raises
        :class:`InvalidNameError` for anything else."""
        if name == HTTP_PROXY_ROUTE:
            return cls.http_proxy()
        if name.isdigit():
            return cls.outbound(_parse_port("route name", name, name))
        if name.startswith("inbound|"):
            cluster = ClusterName.parse(name)
            if cluster.subset or cluster.host:
                raise InvalidNameError("route name", name, "expected inbound|<port>||")
            return cls.inbound(cluster.port)
        if name.startswith("http."):
            port, _, bind = name.removeprefix("http.").partition(".")
            return cls.gateway_http(_parse_port("route name", name, port), bind)
        if name.startswith("https."):
            parts = name.removeprefix("https.").split(".", 4)
            if len(parts) < 4:
                raise InvalidNameError(
                    "route name", name, "expected https.<port>.<port name>.<gateway>.<namespace>"
                )
            port, port_name, gateway, namespace = parts[:4]
            bind = parts[4] if len(parts) == 5 else ""
            port_number = _parse_port("route name", name, port)
            return cls.gateway_https(port_number, port_name, gateway, namespace, bind)
        host, sep, port = name.rpartition(":")
        if sep and host:
            port_number = _parse_port("route name", name, port)
            return cls.outbound_host(host.removeprefix("[").removesuffix("]"), port_number)
        raise InvalidNameError("route name", name, "not a name istiod would give a route")


def virtual_host_name(host: str, port: int) -> str:
    """An outbound virtual host's name: ``reviews.default.svc.cluster.local:9080``."""
    _check_port("virtual host name", host, port)
    return host_port(host, port)


def inbound_virtual_host_name(port: int) -> str:
    """The single virtual host of an inbound route configuration: ``inbound|http|9080``."""
    _check_port("virtual host name", "inbound|http|", port)
    return f"inbound|http|{port}"


class ProxyType(StrEnum):
    """The first field of a node id: what kind of proxy Envoy runs as."""

    SIDECAR = "sidecar"
    ROUTER = "router"  # a gateway


@dataclass(frozen=True, slots=True)
class NodeId:
    """Istio's node id ``<type>~<ip>~<workload>.<namespace>~<namespace>.svc.<dns suffix>``.

    ``workload_name`` is the pod (or workload instance) name; it may contain dots, the
    namespace may not, so parsing splits the third field at its last dot. The fourth field,
    the proxy's DNS domain, must name the same namespace. ``ip`` is the proxy's primary
    address, checked to be an IPv4 or IPv6 literal.
    """

    proxy_type: ProxyType
    ip: str
    workload_name: str
    namespace: str
    dns_suffix: str = DEFAULT_DNS_SUFFIX

    def __post_init__(self) -> None:
        name = self._render()
        try:
            ipaddress.ip_address(self.ip)
        except ValueError as exc:
            raise InvalidNameError("node id", name, f"{self.ip!r} is not an IP address") from exc
        if not self.workload_name or not self.namespace or not self.dns_suffix:
            raise InvalidNameError("node id", name, "workload, namespace and suffix must be set")
        if "." in self.namespace:
            raise InvalidNameError("node id", name, "the namespace cannot contain dots")
        if any("~" in field for field in (self.workload_name, self.namespace, self.dns_suffix)):
            raise InvalidNameError("node id", name, "fields cannot contain '~'")

    def _render(self) -> str:
        return f"{self.proxy_type}~{self.ip}~{self.workload_id}~{self.dns_domain}"

    @property
    def workload_id(self) -> str:
        """``<workload>.<namespace>``, the third field (Istio's ``Proxy.ID``)."""
        return f"{self.workload_name}.{self.namespace}"

    @property
    def dns_domain(self) -> str:
        """``<namespace>.svc.<dns suffix>``, the fourth field (Istio's ``Proxy.DNSDomain``)."""
        return f"{self.namespace}.svc.{self.dns_suffix}"

    def __str__(self) -> str:
        return self._render()

    @classmethod
    def parse(cls, node_id: str) -> Self:
        """Read a node id; raises :class:`InvalidNameError` naming what is wrong."""
        parts = node_id.split("~")
        if len(parts) != 4:
            raise InvalidNameError("node id", node_id, "expected type~ip~workload.ns~domain")
        kind, ip, workload_id, domain = parts
        try:
            proxy_type = ProxyType(kind)
        except ValueError as exc:
            raise InvalidNameError(
                "node id", node_id, "type must be 'sidecar' or 'router'"
            ) from exc
        workload_name, dot, namespace = workload_id.rpartition(".")
        if not dot:
            raise InvalidNameError("node id", node_id, "third field must be <workload>.<ns>")
        prefix = f"{namespace}.svc."
        if not domain.startswith(prefix):
            raise InvalidNameError("node id", node_id, f"domain must start with {prefix!r}")
        return cls(proxy_type, ip, workload_name, namespace, domain.removeprefix(prefix))
