"""LDS: the listeners of a sidecar, in local or capture mode.

Local mode (``INTERCEPTION_MODE: NONE``), on the workload's own loopback address:

- ``<address>_<port>`` for each inbound port: HTTP ports route everything to
  ``inbound|<port>||`` (the app at ``127.0.0.1:<target port>``), other ports proxy TCP to it;
- ``<address>_15001``: the outbound HTTP proxy (route configuration ``http_proxy`` over RDS,
  absolute-form requests and CONNECT accepted).

Capture mode (REDIRECT/TPROXY, for Kubernetes; the listeners Istio generates):

- ``virtualOutbound`` on 0.0.0.0:15001 with ``use_original_dst``: connections are handed to
  the listener of their original destination, else passed through (or blackholed with the
  Sidecar's REGISTRY_ONLY policy);
- ``virtualInbound`` on 0.0.0.0:15006 with the ``original_dst`` listener filter: a filter
  chain per inbound port, matched on the destination port the connection was sent to (the
  endpoint's target port), and a passthrough chain for other ports;
- per-port outbound listeners (not bound; reached through ``virtualOutbound``):
  ``0.0.0.0_<port>`` with the route configuration ``"<port>"`` for ports where some service
  speaks HTTP, and for TCP services ``<address>_<port>`` per service address, or
  ``0.0.0.0_<port>`` for the first TCP service without one when no HTTP service claims the
  port (a port cannot be told apart by host without an address). On TLS and HTTPS ports
  the service's VirtualService ``tls`` routes get a filter chain each, matched on the SNI
  (the ``tls_inspector`` reads it), before the default chain.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.extensions.filters.listener.original_dst.v3 import original_dst_pb2

from mizzen.envoy import (
    BLACKHOLE_CLUSTER,
    INBOUND_PASSTHROUGH_CLUSTER,
    PASSTHROUGH_CLUSTER,
    RouteName,
    inbound_cluster_name,
    pack,
)
from mizzen.registry import Service
from mizzen.snapshots import InboundPort, Interception, ProxyClass
from mizzen.translator.domain.generators.destinations import Target
from mizzen.translator.domain.generators.errors import GeneratorError
from mizzen.translator.domain.generators.filters import (
    HCM_FILTER,
    TCP_PROXY_FILTER,
    inbound_http_manager,
    network_filter,
    outbound_http_manager,
    tcp_proxy,
)
from mizzen.translator.domain.generators.routes import http_ports
from mizzen.translator.domain.generators.tcp_routes import tcp_targets, tls_routes
from mizzen.translator.domain.generators.tls_common import ServerNames, tls_inspector
from mizzen.translator.domain.generators.values import socket_address
from mizzen.translator.domain.generators.view import ProxyView

__all__ = [
    "PROXY_PORT",
    "VIRTUAL_INBOUND",
    "VIRTUAL_INBOUND_PORT",
    "VIRTUAL_OUTBOUND",
    "capture_listeners",
    "local_listeners",
]

Listener = listener_pb2.Listener
PROXY_PORT = 15001
"""The outbound port: the HTTP proxy in local mode, ``virtualOutbound`` in capture mode."""
VIRTUAL_INBOUND_PORT = 15006
VIRTUAL_OUTBOUND = "virtualOutbound"
VIRTUAL_INBOUND = "virtualInbound"
WILDCARD = "0.0.0.0"
_ORIGINAL_DST_FILTER = "envoy.filters.listener.original_dst"


def listener_name(address: str, port: int) -> str:
    """Istio's listener name: ``<address>_<port>``."""
    return f"{address}_{port}"


def _listener(address: str, port: int, direction: int, name: str = "") -> Any:
    return Listener(
        name=name or listener_name(address, port),
        address=socket_address(address, port),
        traffic_direction=direction,
    )


def _inbound_filter(port: InboundPort, stat_address: str) -> Any:
    cluster = inbound_cluster_name(port.port)
    if port.protocol.is_http:
        manager = inbound_http_manager(f"inbound_{stat_address}_{port.port}", port.port)
        return network_filter(HCM_FILTER, manager)
    target = Target(cluster, "", port.port, "")
    return network_filter(TCP_PROXY_FILTER, tcp_proxy(cluster, [(target, 1)]))


def local_listeners(proxy: ProxyClass, inbound: tuple[InboundPort, ...]) -> Iterator[Any]:
    """The local-mode listeners of ``proxy`` (which must have a local address) serving the
    ``inbound`` ports (sorted)."""
    address = proxy.local_address
    if not address:
        raise GeneratorError("lds", "local interception needs the proxy's LOCAL_ADDRESS")
    for port in inbound:
        if port.port == PROXY_PORT:
            # Envoy would reject two listeners on one address; say why here instead.
            raise GeneratorError("lds", f"inbound port {PROXY_PORT} is the proxy's own port")
        listener = _listener(address, port.port, base_pb2.INBOUND)
        listener.filter_chains.add().filters.append(_inbound_filter(port, address))
        yield listener
    outbound = _listener(address, PROXY_PORT, base_pb2.OUTBOUND)
    manager = outbound_http_manager(
        f"outbound_{address}_{PROXY_PORT}", str(RouteName.http_proxy()), proxy=True
    )
    outbound.filter_chains.add().filters.append(network_filter(HCM_FILTER, manager))
    yield outbound


def _virtual_outbound(view: ProxyView, transparent: bool) -> Any:
    listener = _listener(WILDCARD, PROXY_PORT, base_pb2.OUTBOUND, VIRTUAL_OUTBOUND)
    listener.use_original_dst.value = True
    if transparent:
        listener.transparent.value = True
    cluster = PASSTHROUGH_CLUSTER if view.allow_any else BLACKHOLE_CLUSTER
    chain = listener.filter_chains.add(name=f"{VIRTUAL_OUTBOUND}-catchall-tcp")
    target = Target(cluster, "", 0, "")
    chain.filters.append(network_filter(TCP_PROXY_FILTER, tcp_proxy(cluster, [(target, 1)])))
    return listener


def _virtual_inbound(inbound: tuple[InboundPort, ...], transparent: bool) -> Any:
    listener = _listener(WILDCARD, VIRTUAL_INBOUND_PORT, base_pb2.INBOUND, VIRTUAL_INBOUND)
    if transparent:
        listener.transparent.value = True
    listener.listener_filters.append(
        listener_components_pb2.ListenerFilter(
            name=_ORIGINAL_DST_FILTER, typed_config=pack(original_dst_pb2.OriginalDst())
        )
    )
    seen: set[int] = set()
    for port in inbound:
        if port.target_port in seen:
            continue  # one chain per destination port; the first service port wins
        seen.add(port.target_port)
        chain = listener.filter_chains.add(name=inbound_cluster_name(port.port))
        chain.filter_chain_match.destination_port.value = port.target_port
        chain.filters.append(_inbound_filter(port, WILDCARD))
    catch_all = listener.filter_chains.add(name=f"{VIRTUAL_INBOUND}-catchall-tcp")
    target = Target(INBOUND_PASSTHROUGH_CLUSTER, "", 0, "")
    catch_all.filters.append(
        network_filter(TCP_PROXY_FILTER, tcp_proxy(INBOUND_PASSTHROUGH_CLUSTER, [(target, 1)]))
    )
    return listener


def _tcp_proxy_filter(service: Service, port: int, targets: list[tuple[Target, int]]) -> Any:
    stat_prefix = (
        targets[0][0].cluster if len(targets) == 1 else f"outbound|{port}||{service.hostname}"
    )
    return network_filter(TCP_PROXY_FILTER, tcp_proxy(stat_prefix, targets))


def _outbound_tcp(view: ProxyView, service: Service, address: str, port: int) -> Any:
    listener = _listener(address, port, base_pb2.OUTBOUND)
    listener.bind_to_port.value = False
    names = ServerNames()
    for route in tls_routes(view, service, port):
        # One chain per TLS route by SNI (a bare `*` is the default chain's to take).
        free = names.claim([h for h in route.sni_hosts if h != "*"])
        if free:
            chain = listener.filter_chains.add()
            chain.filter_chain_match.server_names.extend(free)
            chain.filters.append(_tcp_proxy_filter(service, port, route.targets))
    if names.claimed:
        listener.listener_filters.append(tls_inspector())
    listener.filter_chains.add().filters.append(
        _tcp_proxy_filter(service, port, tcp_targets(view, service, port))
    )
    return listener


def _per_port_listeners(view: ProxyView) -> Iterator[Any]:
    http = set(http_ports(view))
    for number in sorted(http):
        listener = _listener(WILDCARD, number, base_pb2.OUTBOUND)
        listener.bind_to_port.value = False
        manager = outbound_http_manager(
            f"outbound_{WILDCARD}_{number}", str(RouteName.outbound(number)), proxy=False
        )
        listener.filter_chains.add().filters.append(network_filter(HCM_FILTER, manager))
        yield listener
    claimed = {listener_name(WILDCARD, n) for n in http}
    for service in view.services:
        for port in sorted(service.ports, key=lambda p: p.number):
            if port.protocol.is_http:
                continue
            addresses = [a for a in service.addresses if a and a != WILDCARD] or [WILDCARD]
            for address in addresses:
                name = listener_name(address, port.number)
                if name in claimed:
                    continue
                claimed.add(name)
                yield _outbound_tcp(view, service, address, port.number)


def capture_listeners(view: ProxyView) -> Iterator[Any]:
    """The capture-mode listeners of ``view``'s proxy."""
    transparent = view.proxy.interception is Interception.TPROXY
    yield _virtual_outbound(view, transparent)
    yield _virtual_inbound(view.inbound, transparent)
    yield from _per_port_listeners(view)
