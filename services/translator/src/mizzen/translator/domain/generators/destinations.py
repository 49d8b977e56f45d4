"""Istio destinations → Envoy cluster names, weights and hash policies.

A VirtualService destination names a host (short names resolve against the VirtualService's
namespace), optionally a subset and a port. Without a port, Istio uses the destination
service's only port if it has one, else the port being routed. A destination that is not a
visible service still gets its cluster name (Envoy answers 503 for it, as with Istio).

Known limit: in local mode a destination with resolution NONE is reached through
``PassthroughCluster``, which resolves the request's own Host; a VirtualService that sends
one host's traffic to such a service therefore reaches the original host instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from envoy.config.route.v3 import route_components_pb2

from mizzen.api.networking.common import Destination
from mizzen.envoy import PASSTHROUGH_CLUSTER, outbound_cluster_name
from mizzen.translator.domain.generators.policy import cluster_policy
from mizzen.translator.domain.generators.values import duration
from mizzen.translator.domain.generators.view import ProxyView
from mizzen.translator.domain.mesh_config import resolve_host

__all__ = ["Target", "destination_target", "hash_policy", "weighted"]

HashPolicy = route_components_pb2.RouteAction.HashPolicy


@dataclass(frozen=True, slots=True)
class Target:
    """Where a destination sends traffic: the cluster, and the host/port/subset behind it
    (for the DestinationRule's hash policy)."""

    cluster: str
    host: str
    port: int
    subset: str


def destination_target(
    view: ProxyView, destination: Destination, namespace: str, port: int
) -> Target:
    """The target of ``destination`` written in a resource of ``namespace`` when routing
    ``port``."""
    host = resolve_host(destination.host, namespace, view.config.dns_suffix)
    service = view.services_by_host.get(host) or view.registry.services.get(host)
    if destination.port is not None and destination.port.number:
        number = destination.port.number
    elif service is not None and len(service.ports) == 1:
        number = service.ports[0].number
    else:
        number = port
    subset = destination.subset or ""
    if service is not None and view.routes_through_passthrough(service):
        return Target(PASSTHROUGH_CLUSTER, host, number, subset)
    return Target(outbound_cluster_name(host, number, subset), host, number, subset)


def weighted(entries: Sequence[tuple[Target, int | None]]) -> list[tuple[Target, int]]:
    """Istio's weights: relative; a lone destination takes everything; when no destination
    has a weight they share equally; zero-weight destinations are dropped (unless that
    leaves nothing). Repeated clusters are merged."""
    if all(weight is None for _, weight in entries):
        values = [(target, 1) for target, _ in entries]
    else:
        values = [(target, weight or 0) for target, weight in entries]
    kept = [(t, w) for t, w in values if w > 0] or [(t, 1) for t, _ in values[:1]]
    merged: dict[str, tuple[Target, int]] = {}
    for target, weight in kept:
        previous = merged.get(target.cluster)
        merged[target.cluster] = (target, weight + (previous[1] if previous else 0))
    return list(merged.values())


def hash_policy(view: ProxyView, target: Target) -> Any | None:
    """The route hash policy of ``target``'s DestinationRule ``consistentHash`` (header,
    cookie with path and TTL, source IP or query parameter), or ``None``."""
    rule = view.destination_rule(target.host)
    if rule is None:
        return None
    balancer = cluster_policy(rule, target.port, target.subset).load_balancer
    hashing = balancer.consistent_hash if balancer is not None else None
    if hashing is None:
        return None
    policy = HashPolicy()
    if hashing.http_header_name:
        policy.header.header_name = hashing.http_header_name
    elif hashing.http_cookie is not None:
        cookie = hashing.http_cookie
        policy.cookie.name = cookie.name
        if cookie.path:
            policy.cookie.path = cookie.path
        if cookie.ttl:
            policy.cookie.ttl.CopyFrom(duration(cookie.ttl))
    elif hashing.use_source_ip:
        policy.connection_properties.source_ip = True
    elif hashing.http_query_parameter_name:
        policy.query_parameter.name = hashing.http_query_parameter_name
    else:
        return None
    return policy
