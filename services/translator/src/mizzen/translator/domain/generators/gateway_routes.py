"""RDS: the route configurations of a gateway (router) proxy.

One route configuration per route name of :mod:`.gateway_servers`: ``http.<port>`` holds every
plaintext HTTP server on that port (of every Gateway selecting the router),
``https.<port>.<port name>.<gateway>.<namespace>`` one HTTPS server that terminates TLS;
``.<bind>`` follows when the server binds an address. Their virtual hosts, as Istio builds
them for gateways:

- one per host a bound VirtualService shares with the server (see
  :meth:`~.gateway_servers.GatewayView.bound_virtual_services`), named ``<host>:<server
  port>``, with the VirtualService's HTTP routes for that Gateway and port (the sidecars'
  route builders, so every route feature works the same). Several VirtualServices for one
  host are merged as Istio merges them on gateways: their routes in age order (oldest
  first), catch-all routes (``/``, no header or query condition) moved last
  (:func:`merge_routes`);
- with ``tls.httpsRedirect``, ``require_tls: ALL`` on the server's virtual hosts (Envoy
  answers plaintext requests with a 301 to ``https://``), and one for each server host that
  no VirtualService routes, so that the redirect needs no VirtualService;
- none at all: ``blackhole:<port>``, answering 404 to everything.

Domains are the bare host (``*`` for the wildcard), with ``ignore_port_in_host_matching``
on the configuration, so ``Host: example.com:8080`` matches ``example.com`` and wildcard hosts
match with any port (Istio lists ``host`` and ``host:*`` instead, which leaves wildcard hosts
unmatched when the client sends a port). ``validate_clusters: false`` as for sidecars.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from envoy.config.route.v3 import route_components_pb2, route_pb2

from mizzen.api.resource import age_order
from mizzen.envoy import virtual_host_name
from mizzen.translator.domain.generators.gateway_servers import (
    BoundServer,
    GatewayView,
    as_gateway_view,
)
from mizzen.translator.domain.generators.http_routes import virtual_service_routes
from mizzen.translator.domain.generators.view import ProxyView
from mizzen.translator.domain.mesh_config import resource_id

__all__ = [
    "BLACKHOLE_VIRTUAL_HOST",
    "gateway_route_configurations",
    "is_catch_all",
    "merge_routes",
]

VirtualHost = route_components_pb2.VirtualHost
BLACKHOLE_VIRTUAL_HOST = "blackhole"
_NOT_FOUND = 404


def _virtual_host(host: str, port: int, routes: Sequence[Any], *, redirect: bool) -> Any:
    virtual_host = VirtualHost(name=virtual_host_name(host, port), domains=[host], routes=routes)
    if redirect:
        virtual_host.require_tls = VirtualHost.ALL
    return virtual_host


def _blackhole(port: int) -> Any:
    virtual_host = VirtualHost(name=virtual_host_name(BLACKHOLE_VIRTUAL_HOST, port), domains=["*"])
    route = virtual_host.routes.add(name=BLACKHOLE_VIRTUAL_HOST)
    route.match.prefix = "/"
    route.direct_response.status = _NOT_FOUND
    return virtual_host


def is_catch_all(route: Any) -> bool:
    """Whether an Envoy route matches every request: prefix ``/`` (plain or path-separated)
    and no header or query-parameter condition (Istio's test when it merges routes)."""
    match = route.match
    specifier = match.WhichOneof("path_specifier")
    everything = (specifier == "prefix" and match.prefix == "/") or (
        specifier == "path_separated_prefix" and match.path_separated_prefix == "/"
    )
    return everything and not match.headers and not match.query_parameters


def merge_routes(route_sets: Sequence[Sequence[Any]]) -> list[Any]:
    """The routes of several VirtualServices for one gateway host, oldest first, as Istio
    combines them: every route in order, except that catch-all routes go last (in their
    order), so that one VirtualService's ``/`` does not hide another's specific routes."""
    routes = [r for routes in route_sets for r in routes]
    return [r for r in routes if not is_catch_all(r)] + [r for r in routes if is_catch_all(r)]


@dataclass
class _HostRoutes:
    """What one gateway host collects: whether its server redirects to HTTPS, and the route
    lists of the VirtualServices merged into it (each VirtualService once)."""

    redirect: bool
    merged: set[str] = field(default_factory=set)
    route_sets: list[Sequence[Any]] = field(default_factory=list)


def _route_configuration(view: GatewayView, name: str, servers: Sequence[BoundServer]) -> Any:
    hosts: dict[str, _HostRoutes] = {}
    for bound in servers:
        bound_services = sorted(view.bound_virtual_services(bound), key=lambda b: age_order(b[0]))
        for vs, shared in bound_services:
            routes = virtual_service_routes(view, vs, bound.port, gateway=bound.gateway_id)
            if not routes:
                continue
            for host in shared:
                collected = hosts.setdefault(host, _HostRoutes(bound.https_redirect))
                if resource_id(vs) not in collected.merged:  # bound through two servers: once
                    collected.merged.add(resource_id(vs))
                    collected.route_sets.append(routes)
        if bound.https_redirect:
            for server_host in bound.hosts:
                hosts.setdefault(server_host.host, _HostRoutes(redirect=True))
    config = route_pb2.RouteConfiguration(name=name, ignore_port_in_host_matching=True)
    config.validate_clusters.value = False
    port = servers[0].port
    if hosts:
        config.virtual_hosts.extend(
            _virtual_host(
                host, port, merge_routes(hosts[host].route_sets), redirect=hosts[host].redirect
            )
            for host in sorted(hosts)
        )
    else:
        config.virtual_hosts.append(_blackhole(port))
    return config


def gateway_route_configurations(view: ProxyView) -> list[Any]:
    """Every route configuration of the router ``view`` (a :class:`GatewayView`), by name."""
    gateway = as_gateway_view(view)
    return [
        _route_configuration(gateway, name, servers)
        for name, servers in gateway.servers_by_route.items()
    ]
