"""LDS: the listeners of a gateway (router) proxy, one per listen address and port.

Named ``<address>_<port>`` (``0.0.0.0_8080`` in capture mode, the router's own address in
local mode; see :mod:`.gateway_servers` for addresses and ports), traffic direction OUTBOUND,
as Istio names and marks gateway listeners. What a listener holds depends on its transport:

- plaintext HTTP: one filter chain, an HTTP connection manager on ``http.<port>`` over RDS;
- TLS (``tls_inspector`` reads the SNI): a filter chain per HTTPS server that terminates TLS
  (``server_names`` = its hosts, the server's certificate, a connection manager on its
  ``https.*`` route configuration); a filter chain per TLS server that terminates TLS and
  proxies TCP to its VirtualServices' first applicable ``tcp`` route; and for PASSTHROUGH
  servers a filter chain per VirtualService ``tls`` route match that applies (its
  ``port``/``gateways``/``sourceLabels``), ``server_names`` = its ``sniHosts`` shared with the
  server's hosts, proxying the still-encrypted bytes to the route's weighted destinations;
- TCP: one filter chain proxying to the first applicable ``tcp`` route of the VirtualServices
  bound to the port's servers.

Envoy rejects a listener whose filter chains match the same server name twice, so a name
already matched by an earlier chain is dropped from later ones (a chain left with none is
dropped), and only the first chain without server names is kept. A listener with no filter
chain (a passthrough or TCP server no VirtualService routes) is not generated.

Gateway connection managers use the client's address (``use_remote_address``), as edge
proxies do; with MUTUAL TLS they replace ``x-forwarded-client-cert`` with the client
certificate's subject, DNS and URI names (``SANITIZE_SET``), as Istio's gateways do.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2,
)

from mizzen.api import VirtualService
from mizzen.api.networking.virtual_service import TLSMatchAttributes, TLSRoute
from mizzen.envoy import outbound_cluster_name
from mizzen.translator.domain.generators.destinations import (
    Target,
    destination_target,
    weighted,
)
from mizzen.translator.domain.generators.errors import blame
from mizzen.translator.domain.generators.filters import (
    HCM_FILTER,
    TCP_PROXY_FILTER,
    network_filter,
    outbound_http_manager,
    tcp_proxy,
)
from mizzen.translator.domain.generators.gateway_servers import (
    BoundServer,
    GatewayView,
    ServerKind,
    as_gateway_view,
    host_intersection,
)
from mizzen.translator.domain.generators.gateway_tls import tls_transport_socket
from mizzen.translator.domain.generators.listeners import listener_name
from mizzen.translator.domain.generators.tcp_routes import virtual_service_tcp_targets
from mizzen.translator.domain.generators.tls_common import ServerNames, tls_inspector
from mizzen.translator.domain.generators.values import socket_address
from mizzen.translator.domain.generators.view import ProxyView, gateway_listed
from mizzen.translator.domain.mesh_config import namespace_of, resource_id

__all__ = ["gateway_listeners"]

FilterChain = listener_components_pb2.FilterChain
HCM = http_connection_manager_pb2.HttpConnectionManager


def _http_manager(address: str, port: int, bound: BoundServer) -> Any:
    manager = outbound_http_manager(f"outbound_{address}_{port}", bound.route_name, proxy=False)
    manager.use_remote_address.value = True
    tls = bound.tls
    if bound.kind is ServerKind.HTTPS and tls is not None and tls.mode == "MUTUAL":
        manager.forward_client_cert_details = HCM.SANITIZE_SET
        details = manager.set_current_client_cert_details
        details.subject.value = True
        details.dns = True
        details.uri = True
    return manager


def _tcp_filter(targets: Sequence[tuple[Target, int]]) -> Any:
    first = targets[0][0]
    stat_prefix = first.cluster
    if len(targets) > 1 and first.host:
        stat_prefix = outbound_cluster_name(first.host, first.port)
    return network_filter(TCP_PROXY_FILTER, tcp_proxy(stat_prefix, targets))


def _tcp_targets(view: GatewayView, bound: BoundServer) -> list[tuple[Target, int]] | None:
    for vs, _ in view.bound_virtual_services(bound):
        with blame(resource_id(vs)):
            targets = virtual_service_tcp_targets(view, vs, bound.port, gateway=bound.gateway_id)
        if targets:
            return targets
    return None


def _tls_match_applies(
    view: GatewayView, match: TLSMatchAttributes, bound: BoundServer, namespace: str
) -> bool:
    if match.port and match.port != bound.port:
        return False
    if match.gateways and not gateway_listed(match.gateways, namespace, bound.gateway_id):
        return False
    return view.source_matches(match.source_labels, match.source_namespace)


def _sni_names(
    view: GatewayView, vs: VirtualService, match: TLSMatchAttributes, shared: Sequence[str]
) -> list[str] | None:
    """The route's SNI hosts shared with the server (``[]``: any SNI), ``None``: none."""
    names: list[str] = []
    for written in match.sni_hosts:
        sni = view.config.resolve(written, vs)
        for host in shared:
            common = host_intersection(sni, host)
            if common == "*":
                return []
            if common is not None and common not in names:
                names.append(common)
    return names or None


def _passthrough_chains(view: GatewayView, bound: BoundServer, names: ServerNames) -> Iterator[Any]:
    for vs, shared in view.bound_virtual_services(bound):
        namespace = namespace_of(vs)
        routes: list[TLSRoute] = [r for r in vs.spec.tls or () if r.route]
        for route in routes:
            for match in route.match:
                if not _tls_match_applies(view, match, bound, namespace):
                    continue
                sni = _sni_names(view, vs, match, shared)
                free = names.claim(sni) if sni is not None else None
                if free is None:
                    continue
                with blame(resource_id(vs)):
                    targets = weighted([
                        (destination_target(view, d.destination, namespace, bound.port),
                         d.weight)
                        for d in route.route or ()
                    ])  # fmt: skip
                chain = FilterChain()
                chain.filter_chain_match.server_names.extend(free)
                chain.filters.append(_tcp_filter(targets))
                yield chain


def _terminating_chain(
    view: GatewayView, address: str, port: int, bound: BoundServer, names: ServerNames
) -> Any | None:
    if bound.kind is ServerKind.HTTPS:
        filters = [network_filter(HCM_FILTER, _http_manager(address, port, bound))]
    else:
        targets = _tcp_targets(view, bound)
        if targets is None:
            return None
        filters = [_tcp_filter(targets)]
    free = names.claim(bound.sni_names)
    if free is None:
        return None
    chain = FilterChain(filters=filters, transport_socket=tls_transport_socket(bound))
    chain.filter_chain_match.server_names.extend(free)
    return chain


def _tls_chains(
    view: GatewayView, address: str, port: int, servers: Sequence[BoundServer]
) -> Iterator[Any]:
    names = ServerNames()
    for bound in servers:
        if bound.kind is ServerKind.PASSTHROUGH:
            yield from _passthrough_chains(view, bound, names)
        else:
            chain = _terminating_chain(view, address, port, bound, names)
            if chain is not None:
                yield chain


def _chains(view: GatewayView, address: str, port: int,
            servers: Sequence[BoundServer]) -> list[Any]:  # fmt: skip
    transport = servers[0].kind.transport
    if transport == "http":
        manager = _http_manager(address, port, servers[0])
        return [FilterChain(filters=[network_filter(HCM_FILTER, manager)])]
    if transport == "tls":
        return list(_tls_chains(view, address, port, servers))
    for bound in servers:
        targets = _tcp_targets(view, bound)
        if targets is not None:
            return [FilterChain(filters=[_tcp_filter(targets)])]
    return []


def gateway_listeners(view: ProxyView) -> Iterator[Any]:
    """The listeners of the router ``view`` (a :class:`GatewayView`), one per listen address
    and port that has at least one filter chain."""
    gateway = as_gateway_view(view)
    for (address, port), servers in gateway.listener_groups.items():
        chains = _chains(gateway, address, port, servers)
        if not chains:
            continue
        listener = listener_pb2.Listener(
            name=listener_name(address, port),
            address=socket_address(address, port),
            traffic_direction=base_pb2.OUTBOUND,
        )
        if servers[0].kind.transport == "tls":
            listener.listener_filters.append(tls_inspector())
        listener.filter_chains.extend(chains)
        yield listener
