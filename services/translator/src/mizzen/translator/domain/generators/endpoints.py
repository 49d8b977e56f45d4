"""EDS: a ClusterLoadAssignment per outbound EDS cluster, from the registry's endpoints.

Endpoints are filtered by the cluster's subset labels and must serve the cluster's port
(``Endpoint.ports`` maps the service port to the endpoint's). They are grouped by locality,
localities sorted; every locality carries ``load_balancing_weight`` (the sum of its
endpoints' weights) because proxyless gRPC drops a locality without one. Registry health
becomes ``health_status``: UNHEALTHY endpoints are sent (Envoy then skips them) and
DRAINING ones marked so, as Istio does. A cluster with no endpoints still gets an empty
assignment, so that Envoy finishes warming it at once. Locality-aware load balancing
(priorities, distributed weights) is :mod:`.locality`'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from envoy.config.core.v3 import base_pb2, health_check_pb2
from envoy.config.endpoint.v3 import endpoint_components_pb2, endpoint_pb2

from mizzen.registry import Endpoint, Health, Registry, Service
from mizzen.translator.domain.generators.locality import LocalityBalancing, group_endpoints
from mizzen.translator.domain.generators.values import labels_match, socket_address

__all__ = ["load_assignment", "select_endpoints"]

_HEALTH = {
    Health.HEALTHY: health_check_pb2.HEALTHY,
    Health.UNHEALTHY: health_check_pb2.UNHEALTHY,
    Health.DRAINING: health_check_pb2.DRAINING,
}


def select_endpoints(
    registry: Registry, service: Service, port: int, subset_labels: Mapping[str, str] | None
) -> list[tuple[Endpoint, int]]:
    """The endpoints of ``service`` serving ``port`` whose labels carry ``subset_labels``,
    each with the port it receives that service port on, in the registry's order."""
    selected: list[tuple[Endpoint, int]] = []
    for endpoint in registry.endpoints_of(service.hostname):
        if not labels_match(subset_labels, endpoint.labels):
            continue
        if endpoint.ports:
            target = endpoint.ports.get(port)
            if target is None:
                continue
        else:
            target = port  # an endpoint that names no ports receives the service's
        selected.append((endpoint, target))
    return selected


def lb_endpoint(endpoint: Endpoint, port: int) -> Any:
    """One endpoint with its address, health and weight."""
    lb = endpoint_components_pb2.LbEndpoint(health_status=_HEALTH[endpoint.health])
    lb.endpoint.address.CopyFrom(socket_address(endpoint.address, port))
    lb.load_balancing_weight.value = max(1, endpoint.weight)
    return lb


def load_assignment(
    cluster_name: str,
    endpoints: Iterable[tuple[Endpoint, int]],
    balancing: LocalityBalancing | None = None,
) -> Any:
    """The ClusterLoadAssignment of ``cluster_name`` (grouped by locality, weights set; with
    ``balancing``, priorities and weights as :mod:`.locality` decides)."""
    assignment = endpoint_pb2.ClusterLoadAssignment(cluster_name=cluster_name)
    for found in group_endpoints(endpoints, balancing):
        group = assignment.endpoints.add()
        where = found.locality
        if where.region or where.zone or where.sub_zone:
            group.locality.CopyFrom(
                base_pb2.Locality(region=where.region, zone=where.zone, sub_zone=where.sub_zone)
            )
        group.lb_endpoints.extend(lb_endpoint(e, p) for e, p in found.members)
        group.load_balancing_weight.value = found.weight
        group.priority = found.priority
    return assignment
