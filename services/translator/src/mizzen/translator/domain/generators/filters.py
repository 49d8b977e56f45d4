"""Network and HTTP filters of the generated listeners.

Outbound HTTP connection managers carry Istio's per-route filters ahead of the router: the
CORS filter (per-route policies; first, so that preflight requests are answered without
injected faults) and the fault filter (empty at the listener; each route's
``typed_per_filter_config`` replaces it). Local mode adds the dynamic forward proxy filter,
which resolves unknown hosts for ``PassthroughCluster`` and does nothing for routes to other
clusters. Inbound connection managers only route to the app.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from envoy.config.listener.v3 import listener_components_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.dynamic_forward_proxy.v3 import dynamic_forward_proxy_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2,
)
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf.message import Message

from mizzen.envoy import inbound_cluster_name, inbound_virtual_host_name, pack
from mizzen.translator.domain.generators.clusters import dns_cache_config
from mizzen.translator.domain.generators.destinations import Target
from mizzen.translator.domain.generators.http_routes import DEFAULT_ROUTE
from mizzen.translator.domain.generators.route_features import (
    CORS_FILTER,
    FAULT_FILTER,
    set_timeout,
)
from mizzen.translator.domain.generators.values import ads_config_source

__all__ = [
    "HCM_FILTER",
    "TCP_PROXY_FILTER",
    "inbound_http_manager",
    "network_filter",
    "outbound_http_manager",
    "tcp_proxy",
]

HCM = http_connection_manager_pb2.HttpConnectionManager
HCM_FILTER = "envoy.filters.network.http_connection_manager"
TCP_PROXY_FILTER = "envoy.filters.network.tcp_proxy"
DFP_FILTER = "envoy.filters.http.dynamic_forward_proxy"
ROUTER_FILTER = "envoy.filters.http.router"


def _http_filter(name: str, config: Message) -> Any:
    return http_connection_manager_pb2.HttpFilter(name=name, typed_config=pack(config))


def network_filter(name: str, config: Message) -> Any:
    """A listener network filter with its typed config (packed deterministically)."""
    return listener_components_pb2.Filter(name=name, typed_config=pack(config))


def _base_manager(stat_prefix: str) -> Any:
    manager = HCM(stat_prefix=stat_prefix, codec_type=HCM.AUTO)
    manager.normalize_path.value = True
    manager.use_remote_address.value = False
    return manager


def outbound_http_manager(stat_prefix: str, route_name: str, *, proxy: bool) -> Any:
    """An outbound connection manager fetching route configuration ``route_name`` over ADS.

    ``proxy``: the local-mode HTTP-proxy listener, which accepts absolute-form requests and
    CONNECT (HTTP/1.1 and HTTP/2) and resolves unknown hosts with the dynamic forward proxy.
    """
    manager = _base_manager(stat_prefix)
    manager.rds.route_config_name = route_name
    manager.rds.config_source.CopyFrom(ads_config_source())
    manager.http_filters.append(_http_filter(CORS_FILTER, cors_pb2.Cors()))
    manager.http_filters.append(_http_filter(FAULT_FILTER, fault_pb2.HTTPFault()))
    if proxy:
        manager.http_filters.append(
            _http_filter(
                DFP_FILTER,
                dynamic_forward_proxy_pb2.FilterConfig(dns_cache_config=dns_cache_config()),
            )
        )
        manager.http_protocol_options.allow_absolute_url.value = True
        manager.http2_protocol_options.allow_connect = True
        manager.upgrade_configs.add(upgrade_type="CONNECT")
    manager.upgrade_configs.add(upgrade_type="websocket")
    manager.http_filters.append(_http_filter(ROUTER_FILTER, router_pb2.Router()))
    return manager


def inbound_http_manager(stat_prefix: str, port: int) -> Any:
    """An inbound connection manager routing everything to ``inbound|<port>||`` (route
    configuration inline, named like the cluster, as Istio does)."""
    manager = _base_manager(stat_prefix)
    cluster = inbound_cluster_name(port)
    config = route_pb2.RouteConfiguration(name=cluster)
    config.validate_clusters.value = False
    host = config.virtual_hosts.add(name=inbound_virtual_host_name(port), domains=["*"])
    route = host.routes.add(name=DEFAULT_ROUTE)
    route.match.prefix = "/"
    route.route.cluster = cluster
    set_timeout(route.route, None)
    manager.route_config.CopyFrom(config)
    manager.upgrade_configs.add(upgrade_type="websocket")
    manager.http_filters.append(_http_filter(ROUTER_FILTER, router_pb2.Router()))
    return manager


def tcp_proxy(stat_prefix: str, targets: Sequence[tuple[Target, int]]) -> Any:
    """A TCP proxy to ``targets`` (weighted when several)."""
    proxy = tcp_proxy_pb2.TcpProxy(stat_prefix=stat_prefix)
    if len(targets) == 1:
        proxy.cluster = targets[0][0].cluster
    else:
        for target, weight in targets:
            proxy.weighted_clusters.clusters.add(name=target.cluster, weight=weight)
    return proxy
