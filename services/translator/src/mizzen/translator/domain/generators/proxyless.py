"""Proxyless gRPC: the resources a gRPC client with an xDS resolver (``xds:///<name>``) reads.

A proxyless client has no listeners of its own. For a channel to ``xds:///<target>`` it asks
LDS for the Listener named exactly ``<target>``, follows its ``api_listener`` (an
HttpConnectionManager) to a RouteConfiguration over RDS, picks the virtual host whose
domains match ``<target>``, and asks CDS and EDS for the clusters the routes name. It asks
for every type by name, never by wildcard, so the names are the contract:

- Listeners: for every port of every visible service whose endpoints come over EDS
  (resolution STATIC), one per name a client may dial, as Istio supports them: the FQDN
  ``reviews.default.svc.cluster.local:9080`` and the short forms Kubernetes DNS would
  resolve from the client's namespace (``reviews:9080``, ``reviews.default:9080``,
  ``reviews.default.svc:9080`` from ``default``; only the last two from elsewhere; see
  :func:`mizzen.envoy.alternate_hosts`). Each is an ``api_listener`` whose connection
  manager has the fault filter and the router (gRPC implements router, fault and RBAC; the
  fault filter is there so that VirtualService fault injection, carried per route, acts).
- RouteConfigurations: one per service port, named by the FQDN listener name
  (``reviews.default.svc.cluster.local:9080``); every listener of that port names it. Its
  single virtual host carries every listener name among its domains
  (:data:`PortMatching.BOTH`, since gRPC matches the target with its port) and the port's
  VirtualService HTTP routes, else the default route, built by the sidecars' builders.
  gRPC reads weighted clusters, header matches, retries, ring-hash hash policies, timeouts
  as ``max_stream_duration`` (which :func:`.route_features.set_timeout` sets beside
  ``timeout``) and fault injection. Per-route configs of filters gRPC lacks (CORS) are
  dropped: gRPC rejects a route configuration carrying a config of an unknown filter.
- Clusters: the sidecars' EDS outbound clusters (:func:`.clusters.outbound_clusters`), with
  the load balancer gRPC can run: RING_HASH stays (MAGLEV becomes RING_HASH, gRPC's only
  hash policy), everything else becomes ROUND_ROBIN. gRPC's least-request policy is
  recent and version-dependent, and a client rejects the whole CDS response for one
  cluster with a policy it lacks, so the sidecars' default LEAST_REQUEST is not sent.
  ORIGINAL_DST and DNS clusters are left out (gRPC takes EDS, LOGICAL_DNS and aggregate
  clusters only); a route naming one of them fails its calls.
- ClusterLoadAssignments: the sidecars' (:func:`.endpoints.load_assignment`, every locality
  carrying ``load_balancing_weight``, without which gRPC has "no children in
  weighted_target policy"), except that every endpoint group carries a ``locality``, empty
  when the endpoints have none: gRPC rejects an assignment whose group lacks the field
  ("endpoints[0].locality error:field not present"), where Envoy takes its absence as the
  empty locality. The content differing, the set is the proxyless clients' own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_components_pb2, route_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2,
)

from mizzen.envoy import (
    PortMatching,
    alternate_hosts,
    pack,
    virtual_host_domains,
    virtual_host_name,
)
from mizzen.registry import Resolution, Service
from mizzen.translator.domain.generators.clusters import (
    ClusterKind,
    outbound_cluster_specs,
    outbound_clusters,
)
from mizzen.translator.domain.generators.endpoints import load_assignment, select_endpoints
from mizzen.translator.domain.generators.http_routes import default_route, virtual_service_routes
from mizzen.translator.domain.generators.route_features import FAULT_FILTER
from mizzen.translator.domain.generators.tcp_routes import service_target
from mizzen.translator.domain.generators.values import ads_config_source
from mizzen.translator.domain.generators.view import ProxyView

__all__ = [
    "GRPC_ROUTE_FILTERS",
    "proxyless_clusters",
    "proxyless_listener_names",
    "proxyless_listeners",
    "proxyless_load_assignments",
    "proxyless_route_configurations",
]

Cluster = cluster_pb2.Cluster
HCM = http_connection_manager_pb2.HttpConnectionManager
ROUTER_FILTER = "envoy.filters.http.router"
GRPC_ROUTE_FILTERS = frozenset({FAULT_FILTER})
"""The HTTP filters whose per-route configs a proxyless client is sent (of those the
route builders produce, the ones gRPC implements)."""
_GRPC_POLICIES = (Cluster.ROUND_ROBIN, Cluster.RING_HASH)
_DEFAULT_RING_SIZE = 1024


def _served(view: ProxyView) -> Iterator[tuple[Service, int]]:
    """The (service, port) pairs a proxyless client can reach: EDS services only."""
    for service in view.services:
        if service.resolution is not Resolution.STATIC:
            continue
        for port in sorted(service.ports, key=lambda p: p.number):
            yield service, port.number


def proxyless_listener_names(view: ProxyView, service: Service, port: int) -> list[str]:
    """The listener names of ``service``'s ``port``: the FQDN form first (which also names
    the port's RouteConfiguration), then the short forms dialable from the proxy's
    namespace."""
    names = [service.hostname]
    names += alternate_hosts(service.hostname, view.proxy.namespace, view.config.dns_suffix)
    return list(dict.fromkeys(virtual_host_name(name, port) for name in names))


def _manager(listener_name: str, route_name: str) -> Any:
    manager = HCM(stat_prefix=listener_name)
    manager.rds.route_config_name = route_name
    manager.rds.config_source.CopyFrom(ads_config_source())
    manager.http_filters.add(name=FAULT_FILTER).typed_config.CopyFrom(pack(fault_pb2.HTTPFault()))
    manager.http_filters.add(name=ROUTER_FILTER).typed_config.CopyFrom(pack(router_pb2.Router()))
    return manager


def proxyless_listeners(view: ProxyView) -> Iterator[Any]:
    """One ``api_listener`` per name a client may dial for each served service port."""
    for service, port in _served(view):
        names = proxyless_listener_names(view, service, port)
        for name in names:
            listener = listener_pb2.Listener(name=name)
            listener.api_listener.api_listener.CopyFrom(pack(_manager(name, names[0])))
            yield listener


def _grpc_route(route: Any) -> Any:
    for name in [n for n in route.typed_per_filter_config if n not in GRPC_ROUTE_FILTERS]:
        del route.typed_per_filter_config[name]
    return route


def proxyless_route_configurations(view: ProxyView) -> Iterator[Any]:
    """One RouteConfiguration per served service port (see the module docstring)."""
    for service, port in _served(view):
        vs = view.virtual_service(service.hostname)
        routes = virtual_service_routes(view, vs, port) if vs is not None else []
        if not routes:
            routes = [default_route(view, service_target(view, service, port))]
        host = route_components_pb2.VirtualHost(
            name=virtual_host_name(service.hostname, port),
            domains=virtual_host_domains(
                service.hostname,
                port,
                proxy_namespace=view.proxy.namespace,
                matching=PortMatching.BOTH,
                dns_suffix=view.config.dns_suffix,
                addresses=service.addresses,
            ),
            routes=[_grpc_route(route) for route in routes],
        )
        config = route_pb2.RouteConfiguration(
            name=virtual_host_name(service.hostname, port), virtual_hosts=[host]
        )
        config.validate_clusters.value = False
        yield config


def proxyless_clusters(view: ProxyView) -> Iterator[Any]:
    """The EDS outbound clusters with gRPC's load balancers (see the module docstring)."""
    for cluster in outbound_clusters(view):
        if cluster.type != Cluster.EDS:
            continue
        if cluster.lb_policy == Cluster.MAGLEV:
            cluster.ClearField("maglev_lb_config")
            cluster.lb_policy = Cluster.RING_HASH
            cluster.ring_hash_lb_config.minimum_ring_size.value = _DEFAULT_RING_SIZE
        elif cluster.lb_policy not in _GRPC_POLICIES:
            cluster.lb_policy = Cluster.ROUND_ROBIN
        yield cluster


def proxyless_load_assignments(view: ProxyView) -> Iterator[Any]:
    """The assignment of every EDS cluster, each group with a locality (see module)."""
    for spec in outbound_cluster_specs(view):
        if spec.kind != ClusterKind.EDS:
            continue
        selected = select_endpoints(view.registry, spec.service, spec.port, spec.subset_labels)
        assignment = load_assignment(spec.name, selected)
        for group in assignment.endpoints:
            group.locality.SetInParent()
        yield assignment
