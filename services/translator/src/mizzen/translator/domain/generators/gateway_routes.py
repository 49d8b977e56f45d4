"""RDS: the route configurations of a gateway (router) proxy.

One route configuration per route name of :mod:`.gateway_servers`: ``http.<port>`` holds every
plaintext HTTP server on that port (of every Gateway selecting the router),
``https.<port>.<port name>.<gateway>.<namespace>`` one HTTPS server that terminates TLS;
``.<bind>`` follows when the server binds an address. Their virtual hosts, as Istio builds
them for gateways:

- one per host a bound VirtualService shares with the server (see
  :meth:`~.gateway_servers.GatewayView.bound_virtual_services`), named ``<host>:<server
  port>``, with the VirtualService's HTTP routes for that Gateway and port (the sidecars'
  route builders, so every route feature works the same); a host already given a virtual
  host by an earlier VirtualService or server keeps it (Istio warns about such conflicts);
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
from typing import Any

from envoy.config.route.v3 import route_components_pb2, route_pb2

from mizzen.envoy import virtual_host_name
from mizzen.translator.domain.generators.gateway_servers import (
    BoundServer,
    GatewayView,
    as_gateway_view,
)
from mizzen.translator.domain.generators.http_routes import virtual_service_routes
from mizzen.translator.domain.generators.view import ProxyView

__all__ = ["BLACKHOLE_VIRTUAL_HOST", "gateway_route_configurations"]

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


def _route_configuration(view: GatewayView, name: str, servers: Sequence[BoundServer]) -> Any:
    hosts: dict[str, Any] = {}
    for bound in servers:
        for vs, shared in view.bound_virtual_services(bound):
            routes = virtual_service_routes(view, vs, bound.port, gateway=bound.gateway_id)
            if not routes:
                continue
            for host in shared:
                if host not in hosts:
                    hosts[host] = _virtual_host(host, bound.port, routes,
                                                redirect=bound.https_redirect)  # fmt: skip
        if bound.https_redirect:
            for server_host in bound.hosts:
                if server_host.host not in hosts:
                    hosts[server_host.host] = _virtual_host(
                        server_host.host, bound.port, [], redirect=True
                    )
    config = route_pb2.RouteConfiguration(name=name, ignore_port_in_host_matching=True)
    config.validate_clusters.value = False
    if hosts:
        config.virtual_hosts.extend(hosts[host] for host in sorted(hosts))
    else:
        config.virtual_hosts.append(_blackhole(servers[0].port))
    return config


def gateway_route_configurations(view: ProxyView) -> list[Any]:
    """Every route configuration of the router ``view`` (a :class:`GatewayView`), by name."""
    gateway = as_gateway_view(view)
    return [
        _route_configuration(gateway, name, servers)
        for name, servers in gateway.servers_by_route.items()
    ]
