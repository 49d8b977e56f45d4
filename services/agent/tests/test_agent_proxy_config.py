"""``proxy-config`` tables from the dumps of a real Envoy running Istio-named config."""

from __future__ import annotations

import json
from typing import Any

from mizzen.agent.domain import proxy_config as pc
from mizzen.launcher import PortAllocator
from mizzen.testing.plugin import EnvoyFactory

HCM = (
    "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
    "HttpConnectionManager"
)
ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
REVIEWS = "outbound|9080|v1|reviews.default.svc.cluster.local"
VS_CONFIG = "/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews"


def static_cluster(name: str, port: int) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                "socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}],
        },
    }  # fmt: skip


def bootstrap(admin_port: int, http_port: int, tcp_port: int) -> dict[str, Any]:
    route_config = {
        "name": "9080",
        "virtual_hosts": [{
            "name": "reviews.default.svc.cluster.local:9080",
            "domains": ["reviews.default.svc.cluster.local", "reviews", "reviews.default"],
            "routes": [
                {"match": {"prefix": "/", "headers": [{"name": "end-user",
                                                       "string_match": {"exact": "jason"}}]},
                 "route": {"cluster": REVIEWS},
                 "metadata": {"filter_metadata": {"istio": {"config": VS_CONFIG}}}},
                {"match": {"path": "/health"}, "direct_response": {"status": 404}},
                {"match": {"safe_regex": {"regex": "/api/v[0-9]+"}}, "route": {"cluster": REVIEWS}},
            ],
        }],
    }  # fmt: skip
    http = {"filters": [{"name": "envoy.filters.network.http_connection_manager",
                         "typed_config": {"@type": HCM, "stat_prefix": "http",
                                          "route_config": route_config,
                                          "http_filters": [{"name": "envoy.filters.http.router",
                                                            "typed_config": {"@type": ROUTER}}]}}],
            "filter_chain_match": {"transport_protocol": "raw_buffer",
                                   "application_protocols": ["http/1.1", "h2c"]}}  # fmt: skip
    tcp = {"filters": [{"name": "envoy.filters.network.tcp_proxy",
                        "typed_config": {"@type": TCP_PROXY, "stat_prefix": "tcp",
                                         "cluster": "inbound|9090||"}}]}  # fmt: skip
    return {
        "node": {"id": "sidecar~127.0.0.1~test.default~default.svc.cluster.local",
                 "cluster": "test.default", "metadata": {"NAMESPACE": "default",
                                                         "LABELS": {"app": "test"}}},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1",
                                                 "port_value": admin_port}}},
        "static_resources": {
            "clusters": [
                static_cluster(REVIEWS, http_port),
                static_cluster("inbound|9090||", tcp_port),
                {"name": "BlackHoleCluster", "type": "STATIC", "connect_timeout": "1s"},
            ],
            "listeners": [
                {"name": "http", "address": {"socket_address": {"address": "127.0.0.1",
                                                                "port_value": http_port}},
                 "filter_chains": [http]},
                {"name": "tcp", "address": {"socket_address": {"address": "127.0.0.1",
                                                               "port_value": tcp_port}},
                 "filter_chains": [tcp]},
            ],
        },
    }  # fmt: skip


async def test_tables_read_istio_names(envoy_factory: EnvoyFactory, ports: PortAllocator) -> None:
    admin, http_port, tcp_port = ports.take(), ports.take(), ports.take()
    envoy = await envoy_factory(bootstrap(admin, http_port, tcp_port), admin_port=admin)
    dump = await envoy.config_dump()
    status, body = await envoy.admin_get("/clusters?format=json")
    assert status == 200

    clusters = pc.cluster_table(pc.cluster_configs(dump))
    assert clusters.header == ("SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE")
    assert clusters.rows == (
        ("", "9090", "-", "inbound", "STATIC"),
        ("BlackHoleCluster", "-", "-", "-", "STATIC"),
        ("reviews.default.svc.cluster.local", "9080", "v1", "outbound", "STATIC"),
    )

    listeners = pc.listener_table(pc.listener_configs(dump))
    assert listeners.header == ("ADDRESS", "PORT", "MATCH", "DESTINATION")
    assert set(listeners.rows) == {
        ("127.0.0.1", str(http_port), "Trans: raw_buffer; App: http/1.1,h2c", "Inline Route: 9080"),
        ("127.0.0.1", str(tcp_port), "ALL", "Cluster: inbound|9090||"),
    }

    routes = pc.route_table(pc.route_configs(dump))
    assert routes.header == ("NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE")
    domains = "reviews.default.svc.cluster.local, reviews + 1 more..."
    assert routes.rows == (
        ("9080", domains, "/* (headers: end-user)", "reviews.default"),
        ("9080", domains, "/health", "404"),
        ("9080", domains, "~/api/v[0-9]+", "-"),
    )

    endpoints = pc.endpoint_table(pc.endpoint_statuses(json.loads(body)))
    assert endpoints.header == ("ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER")
    assert endpoints.rows == (
        (f"127.0.0.1:{tcp_port}", "HEALTHY", "OK", "inbound|9090||"),
        (f"127.0.0.1:{http_port}", "HEALTHY", "OK", REVIEWS),
    )

    node = {row[0]: row[1] for row in pc.bootstrap_table(pc.bootstrap_of(dump)).rows}
    assert node["node.id"] == "sidecar~127.0.0.1~test.default~default.svc.cluster.local"
    assert node["node.metadata.LABELS"] == "app=test"
    assert node["admin"] == f"127.0.0.1:{admin}"


def test_dynamic_state_and_outlier_failures() -> None:
    hcm = {
        "name": "envoy.filters.network.http_connection_manager",
        "typed_config": {"@type": HCM, "rds": {"route_config_name": "http_proxy"}},
    }
    listener = {
        "name": "l",
        "filter_chains": [{"filters": [hcm]}],
        "address": {"socket_address": {"address": "127.1.0.3", "port_value": 15001}},
    }
    warming = {**listener, "name": "w"}
    dump = {"configs": [{
        "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
        "dynamic_listeners": [{"name": "l", "active_state": {"listener": listener}},
                              {"name": "w", "warming_state": {"listener": warming}},
                              {"name": "e", "error_state": {"details": "bad"}}],
    }, {
        "@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
        "dynamic_active_clusters": [{"cluster": {"name": "outbound|80||a.b", "type": "EDS"}}],
        "dynamic_warming_clusters": [{"cluster": {"name": "dfp", "cluster_type": {
            "name": "envoy.clusters.dynamic_forward_proxy"}}}],
    }]}  # fmt: skip
    rows = pc.listener_table(pc.listener_configs(dump)).rows
    assert rows == (("127.1.0.3", "15001", "ALL", "Route: http_proxy"),) * 2
    assert pc.cluster_table(pc.cluster_configs(dump)).rows == (
        ("a.b", "80", "-", "outbound", "EDS"),
        ("dfp", "-", "-", "-", "DYNAMIC_FORWARD_PROXY"),
    )
    statuses = {"cluster_statuses": [{"name": "c", "host_statuses": [
        {"address": {"socket_address": {"address": "127.1.0.9", "port_value": 80}},
         "health_status": {"eds_health_status": "HEALTHY", "failed_outlier_check": True}},
        {"address": {"socket_address": {"address": "127.1.0.8", "port_value": 80}},
         "health_status": {"eds_health_status": "DRAINING"}},
    ]}]}  # fmt: skip
    assert pc.endpoint_table(pc.endpoint_statuses(statuses)).rows == (
        ("127.1.0.8:80", "DRAINING", "OK", "c"),
        ("127.1.0.9:80", "HEALTHY", "FAILED", "c"),
    )
