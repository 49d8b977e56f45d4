"""RDS: the outbound route configurations of a sidecar.

- Local mode: one route configuration, ``http_proxy``, for the HTTP-proxy listener on
  ``<local address>:15001``. Every visible service port gets a virtual host
  ``<host>:<port>`` whose domains carry the port (:data:`PortMatching.HTTP_PROXY`: requests
  arrive in absolute form, routed by host and port). HTTP ports get their VirtualService
  routes (or the default route) after a CONNECT route to the service; other ports (TCP) get
  a CONNECT route weighted by the VirtualService's TCP routes. ``allow_any`` (``*``) sends
  unknown hosts, plain or CONNECT, to ``PassthroughCluster`` (a dynamic forward proxy);
  with the Sidecar's REGISTRY_ONLY policy ``block_all`` answers 502 instead.
- Capture mode: one route configuration per HTTP port (``"9080"``), virtual hosts with bare
  domains and ``ignore_port_in_host_matching``, as Istio builds them for sidecars;
  ``allow_any`` goes to the ORIGINAL_DST ``PassthroughCluster``.

Not translated yet: VirtualService ``tls`` routes (SNI); a VirtualService host that is not a
registry service gets no virtual host of its own. Delegation: :mod:`.delegation`.

Every route configuration sets ``validate_clusters: false`` (Istio does too): a route may
name a cluster Envoy does not have yet, and must not make the whole configuration fail.
Domains are unique across a configuration's virtual hosts (Envoy requires it): a domain
already claimed by an earlier virtual host (hosts sorted by name) is dropped from later ones.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from envoy.config.route.v3 import route_components_pb2, route_pb2

from mizzen.envoy import (
    ALLOW_ANY_VIRTUAL_HOST,
    BLOCK_ALL_VIRTUAL_HOST,
    PASSTHROUGH_CLUSTER,
    PortMatching,
    RouteName,
    virtual_host_domains,
    virtual_host_name,
)
from mizzen.registry import Service, ServicePort
from mizzen.translator.domain.generators.destinations import Target
from mizzen.translator.domain.generators.http_routes import default_route, virtual_service_routes
from mizzen.translator.domain.generators.route_features import set_timeout
from mizzen.translator.domain.generators.tcp_routes import service_target, tcp_targets
from mizzen.translator.domain.generators.view import ProxyView

__all__ = ["capture_route_configurations", "connect_route", "local_route_configuration"]

Route = route_components_pb2.Route
VirtualHost = route_components_pb2.VirtualHost
CONNECT_ROUTE = "connect"
_BLOCKED_STATUS = 502


def connect_route(targets: Sequence[tuple[Target, int]]) -> Any:
    """A route for HTTP CONNECT that terminates the tunnel here and forwards its bytes to
    ``targets`` as TCP (weighted when several), with no timeout."""
    route = Route(name=CONNECT_ROUTE)
    route.match.connect_matcher.SetInParent()
    action = route.route
    if len(targets) == 1:
        action.cluster = targets[0][0].cluster
    else:
        for target, weight in targets:
            entry = action.weighted_clusters.clusters.add(name=target.cluster)
            entry.weight.value = weight
    upgrade = action.upgrade_configs.add(upgrade_type="CONNECT")
    upgrade.connect_config.SetInParent()
    action.timeout.FromSeconds(0)
    return route


def _http_routes(view: ProxyView, service: Service, port: int) -> list[Any]:
    vs = view.virtual_service(service.hostname)
    routes = virtual_service_routes(view, vs, port) if vs is not None else []
    # A VirtualService with no route for this proxy and port leaves the service's own route.
    return routes or [default_route(view, service_target(view, service, port))]


def _passthrough_route() -> Any:
    route = Route(name=ALLOW_ANY_VIRTUAL_HOST)
    route.match.prefix = "/"
    route.route.cluster = PASSTHROUGH_CLUSTER
    set_timeout(route.route, None)
    return route


def _catch_all(view: ProxyView, *, connect: bool) -> Any:
    if view.allow_any:
        host = VirtualHost(name=ALLOW_ANY_VIRTUAL_HOST, domains=["*"])
        if connect:
            passthrough = Target(PASSTHROUGH_CLUSTER, "", 0, "")
            host.routes.append(connect_route([(passthrough, 1)]))
        host.routes.append(_passthrough_route())
        return host
    host = VirtualHost(name=BLOCK_ALL_VIRTUAL_HOST, domains=["*"])
    blocked = host.routes.add(name=BLOCK_ALL_VIRTUAL_HOST)
    blocked.match.prefix = "/"
    blocked.direct_response.status = _BLOCKED_STATUS
    return host


def _configuration(name: str, hosts: Iterable[Any], catch_all: Any, *, ignore_port: bool) -> Any:
    config = route_pb2.RouteConfiguration(name=name, ignore_port_in_host_matching=ignore_port)
    config.validate_clusters.value = False
    claimed: set[str] = set()
    for host in hosts:  # not modified: they may be shared (see .vhosts)
        domains = [d for d in host.domains if d not in claimed]
        if not domains or not host.routes:
            continue
        claimed.update(domains)
        config.virtual_hosts.append(host)
        if len(domains) != len(host.domains):
            added = config.virtual_hosts[-1]
            del added.domains[:]
            added.domains.extend(domains)
    config.virtual_hosts.append(catch_all)
    return config


def _domains(view: ProxyView, service: Service, port: int, matching: PortMatching) -> list[str]:
    return virtual_host_domains(
        service.hostname,
        port,
        proxy_namespace=view.proxy.namespace,
        matching=matching,
        dns_suffix=view.config.dns_suffix,
        addresses=service.addresses,
    )


def _local_virtual_host(view: ProxyView, service: Service, port: ServicePort) -> Any:
    host = VirtualHost(
        name=virtual_host_name(service.hostname, port.number),
        domains=_domains(view, service, port.number, PortMatching.HTTP_PROXY),
    )
    if port.protocol.is_http:
        own = [(service_target(view, service, port.number), 1)]
        host.routes.append(connect_route(own))
        host.routes.extend(_http_routes(view, service, port.number))
    else:
        host.routes.append(connect_route(tcp_targets(view, service, port.number)))
    return host


def _capture_virtual_host(view: ProxyView, service: Service, number: int) -> Any:
    return VirtualHost(
        name=virtual_host_name(service.hostname, number),
        domains=_domains(view, service, number, PortMatching.IGNORED),
        routes=_http_routes(view, service, number),
    )


def local_route_configuration(view: ProxyView) -> Any:
    """The ``http_proxy`` route configuration (local mode)."""
    hosts = []
    for service in view.services:
        if view.routes_through_passthrough(service):
            continue  # reached through allow_any, like an unknown host
        for port in sorted(service.ports, key=lambda p: p.number):
            hosts.append(
                view.cached_virtual_host(
                    service.hostname, port.number,
                    functools.partial(_local_virtual_host, view, service, port),
                )
            )  # fmt: skip
    return _configuration(
        str(RouteName.http_proxy()), hosts, _catch_all(view, connect=True), ignore_port=False
    )


def http_ports(view: ProxyView) -> list[int]:
    """The ports on which some visible service speaks HTTP (capture-mode route configs)."""
    return sorted({p.number for s in view.services for p in s.ports if p.protocol.is_http})


def capture_route_configurations(view: ProxyView) -> list[Any]:
    """One route configuration per HTTP port (capture mode)."""
    configs = []
    for number in http_ports(view):
        hosts = []
        for service in view.services:
            port = service.port(number)
            if port is None or not port.protocol.is_http:
                continue
            hosts.append(
                view.cached_virtual_host(
                    service.hostname, number,
                    functools.partial(_capture_virtual_host, view, service, number),
                )
            )  # fmt: skip
        configs.append(
            _configuration(
                str(RouteName.outbound(number)),
                hosts,
                _catch_all(view, connect=False),
                ignore_port=True,
            )
        )
    return configs
