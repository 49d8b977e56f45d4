"""VirtualService TCP routes → weighted clusters, for one service port seen by one proxy.

The first TCP route whose matches apply wins (a route without matches always applies); a
match applies when its ``port`` (if any) is the routed port, its ``gateways`` (if any) name
the gateway being routed for (``mesh`` for sidecars, ``<namespace>/<name>`` for a Gateway's
TCP servers) and its ``sourceLabels`` / ``sourceNamespace`` select the proxy. Without a
VirtualService, or without an applicable route, a sidecar's traffic goes to the service's own
cluster. The same weights serve the local-mode CONNECT routes, capture-mode ``tcp_proxy``
filters and gateways' TCP servers.
"""

from __future__ import annotations

from mizzen.api import VirtualService
from mizzen.api.networking.virtual_service import L4MatchAttributes
from mizzen.envoy import PASSTHROUGH_CLUSTER, outbound_cluster_name
from mizzen.registry import Service
from mizzen.translator.domain.generators.destinations import (
    Target,
    destination_target,
    weighted,
)
from mizzen.translator.domain.generators.view import MESH_GATEWAY, ProxyView, gateway_listed
from mizzen.translator.domain.mesh_config import namespace_of

__all__ = ["service_target", "tcp_targets", "virtual_service_tcp_targets"]


def service_target(view: ProxyView, service: Service, port: int) -> Target:
    """The service's own cluster for ``port`` (``PassthroughCluster`` when the service is
    reached like an unknown host; see :meth:`ProxyView.routes_through_passthrough`)."""
    if view.routes_through_passthrough(service):
        return Target(PASSTHROUGH_CLUSTER, service.hostname, port, "")
    return Target(outbound_cluster_name(service.hostname, port), service.hostname, port, "")


def _applies(
    view: ProxyView, match: L4MatchAttributes, port: int, namespace: str, gateway: str
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


def tcp_targets(view: ProxyView, service: Service, port: int) -> list[tuple[Target, int]]:
    """Weighted targets for TCP traffic to ``service`` on ``port`` (at least one)."""
    vs = view.virtual_service(service.hostname)
    targets = virtual_service_tcp_targets(view, vs, port) if vs is not None else None
    return targets or [(service_target(view, service, port), 1)]
