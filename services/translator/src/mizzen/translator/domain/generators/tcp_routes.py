"""VirtualService TCP and TLS routes → weighted clusters, for one service port seen by one
proxy.

The first TCP route whose matches apply wins (a route without matches always applies); a
match applies when its ``port`` (if any) is the routed port, its ``gateways`` (if any) name
the gateway being routed for (``mesh`` for sidecars, ``<namespace>/<name>`` for a Gateway's
TCP servers) and its ``sourceLabels`` / ``sourceNamespace`` select the proxy. Without a
VirtualService, or without an applicable route, a sidecar's traffic goes to the service's own
cluster. The same weights serve the local-mode CONNECT routes, capture-mode ``tcp_proxy``
filters and gateways' TCP servers.

TLS routes (unterminated TLS, for sidecars) apply to TLS and HTTPS ports: the first one with
a match that applies (``port``, ``gateways``, ``sourceLabels``, ``sourceNamespace``) and
whose ``sniHosts`` cover the server name routes it. In capture mode the server name is the
SNI Envoy reads (:func:`tls_routes`, one filter chain per route); in local mode the app
reaches the service with CONNECT, and the CONNECT host stands for the SNI (a TLS client
sends the name it connects to). TLS routes are tried before TCP routes, as Istio does.
"""

from __future__ import annotations

from dataclasses import dataclass

from mizzen.api import VirtualService
from mizzen.api.networking.virtual_service import L4MatchAttributes, TLSMatchAttributes
from mizzen.envoy import PASSTHROUGH_CLUSTER, outbound_cluster_name
from mizzen.registry import Protocol, Service
from mizzen.translator.domain.generators.destinations import (
    Target,
    destination_target,
    weighted,
)
from mizzen.translator.domain.generators.view import (
    MESH_GATEWAY,
    ProxyView,
    gateway_listed,
    host_covers,
)
from mizzen.translator.domain.mesh_config import namespace_of

__all__ = [
    "TlsRoute",
    "service_target",
    "tcp_targets",
    "tls_routes",
    "virtual_service_tcp_targets",
]


_TLS_PROTOCOLS = (Protocol.TLS, Protocol.HTTPS)


def service_target(view: ProxyView, service: Service, port: int) -> Target:
    """The service's own cluster for ``port`` (``PassthroughCluster`` when the service is
    reached like an unknown host; see :meth:`ProxyView.routes_through_passthrough`)."""
    if view.routes_through_passthrough(service):
        return Target(PASSTHROUGH_CLUSTER, service.hostname, port, "")
    return Target(outbound_cluster_name(service.hostname, port), service.hostname, port, "")


def _applies(
    view: ProxyView,
    match: L4MatchAttributes | TLSMatchAttributes,
    port: int,
    namespace: str,
    gateway: str,
) -> bool:
    if match.port and match.port != port:
        return False
    if match.gateways and not gateway_listed(match.gateways, namespace, gateway):
        return False
    return view.source_matches(match.source_labels, match.source_namespace)


def virtual_service_tcp_targets(
    view: ProxyView, vs: VirtualService, port: int, *, gateway: str = MESH_GATEWAY
) -> list[tuple[Target, int]] | None:
    """Weighted targets of the first TCP route of ``vs`` that applies to ``port`` as routed
    by ``gateway`` (see :func:`~.http_routes.virtual_service_routes`); ``None`` when no
    route applies."""
    namespace = namespace_of(vs)
    for route in vs.spec.tcp or ():
        if not route.route:
            continue
        if route.match and not any(
            _applies(view, m, port, namespace, gateway) for m in route.match
        ):
            continue
        entries = [
            (destination_target(view, d.destination, namespace, port), d.weight)
            for d in route.route
        ]
        return weighted(entries)
    return None


@dataclass(frozen=True, slots=True)
class TlsRoute:
    """One applicable TLS route match: the server names it takes and its weighted targets."""

    sni_hosts: tuple[str, ...]
    targets: list[tuple[Target, int]]


def tls_routes(view: ProxyView, service: Service, port: int) -> list[TlsRoute]:
    """The TLS routes of ``service``'s VirtualService that apply to ``port`` for this proxy,
    in order (none for ports that do not carry TLS)."""
    vs = view.virtual_service(service.hostname)
    served = service.port(port)
    if vs is None or served is None or served.protocol not in _TLS_PROTOCOLS:
        return []
    namespace = namespace_of(vs)
    found: list[TlsRoute] = []
    for route in vs.spec.tls or ():
        if not route.route:
            continue
        entries = None
        for match in route.match:
            if not _applies(view, match, port, namespace, MESH_GATEWAY):
                continue
            if entries is None:
                entries = weighted([
                    (destination_target(view, d.destination, namespace, port), d.weight)
                    for d in route.route
                ])  # fmt: skip
            hosts = tuple(view.config.resolve(h, vs) for h in match.sni_hosts)
            found.append(TlsRoute(hosts, entries))
    return found


def tcp_targets(view: ProxyView, service: Service, port: int) -> list[tuple[Target, int]]:
    """Weighted targets for TCP traffic to ``service`` on ``port`` (at least one); for a TLS
    port, the first TLS route whose ``sniHosts`` cover the service's host comes first."""
    for route in tls_routes(view, service, port):
        if any(host_covers(h, service.hostname) for h in route.sni_hosts):
            return route.targets
    vs = view.virtual_service(service.hostname)
    targets = virtual_service_tcp_targets(view, vs, port) if vs is not None else None
    return targets or [(service_target(view, service, port), 1)]
