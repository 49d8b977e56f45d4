"""Istio's names: every name we build parses back to what built it, and bad names are refused."""

from __future__ import annotations

import pytest

from mizzen.envoy import (
    BLACKHOLE_CLUSTER,
    INBOUND_PASSTHROUGH_CLUSTER,
    INBOUND_PASSTHROUGH_CLUSTER_IPV4,
    PASSTHROUGH_CLUSTER,
    ClusterName,
    InvalidNameError,
    NodeId,
    ProxyType,
    RouteKind,
    RouteName,
    TrafficDirection,
    inbound_cluster_name,
    inbound_virtual_host_name,
    outbound_cluster_name,
    virtual_host_name,
)

REVIEWS = "reviews.default.svc.cluster.local"

CLUSTERS = [
    (ClusterName(TrafficDirection.OUTBOUND, 9080, "v1", REVIEWS), f"outbound|9080|v1|{REVIEWS}"),
    (ClusterName(TrafficDirection.OUTBOUND, 9080, "", REVIEWS), f"outbound|9080||{REVIEWS}"),
    (ClusterName(TrafficDirection.OUTBOUND, 443, "", "api.example.com"),
     "outbound|443||api.example.com"),
    (ClusterName(TrafficDirection.INBOUND, 9080), "inbound|9080||"),
    (ClusterName(TrafficDirection.INBOUND, 9080, "http", REVIEWS), f"inbound|9080|http|{REVIEWS}"),
]  # fmt: skip


@pytest.mark.parametrize(("cluster", "name"), CLUSTERS, ids=[n for _, n in CLUSTERS])
def test_cluster_names_print_and_parse_back(cluster: ClusterName, name: str) -> None:
    assert str(cluster) == name
    assert ClusterName.parse(name) == cluster
    assert ClusterName.parse_sni(cluster.sni()) == cluster


def test_cluster_name_helpers_and_sni_form() -> None:
    assert outbound_cluster_name(REVIEWS, 9080, "v1") == f"outbound|9080|v1|{REVIEWS}"
    assert outbound_cluster_name(REVIEWS, 9080) == f"outbound|9080||{REVIEWS}"
    assert inbound_cluster_name(9080) == "inbound|9080||"
    assert (
        ClusterName.parse(f"outbound|9080|v1|{REVIEWS}").sni() == f"outbound_.9080_.v1_.{REVIEWS}"
    )


@pytest.mark.parametrize(
    "name",
    [
        BLACKHOLE_CLUSTER,
        PASSTHROUGH_CLUSTER,
        INBOUND_PASSTHROUGH_CLUSTER,
        INBOUND_PASSTHROUGH_CLUSTER_IPV4,
        "outbound|9080|v1",  # three fields
        f"outbound|9080|v1|{REVIEWS}|x",  # five fields
        f"sideways|9080||{REVIEWS}",  # unknown direction
        f"outbound|http||{REVIEWS}",  # port not a number
        f"outbound|0||{REVIEWS}",  # port out of range
        f"outbound|65536||{REVIEWS}",
        f"outbound|09080||{REVIEWS}",  # leading zero would not print back the same
        "outbound|9080||",  # outbound without a host
    ],
)
def test_bad_cluster_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError) as caught:
        ClusterName.parse(name)
    assert caught.value.name == name
    assert isinstance(caught.value, ValueError)


ROUTES = [
    (RouteName.outbound(9080), "9080"),
    (RouteName.outbound_host(REVIEWS, 9080), f"{REVIEWS}:9080"),
    (RouteName.outbound_host("fd00::1", 9080), "[fd00::1]:9080"),
    (RouteName.http_proxy(), "http_proxy"),
    (RouteName.inbound(9080), "inbound|9080||"),
    (RouteName.gateway_http(8080), "http.8080"),
    (RouteName.gateway_http(8080, bind="10.0.0.1"), "http.8080.10.0.0.1"),
    (RouteName.gateway_https(443, "https-bookinfo", "bookinfo-gateway", "default"),
     "https.443.https-bookinfo.bookinfo-gateway.default"),
    (RouteName.gateway_https(443, "https", "gw", "istio-system", bind="10.0.0.1"),
     "https.443.https.gw.istio-system.10.0.0.1"),
]  # fmt: skip


@pytest.mark.parametrize(("route", "name"), ROUTES, ids=[n for _, n in ROUTES])
def test_route_names_print_and_parse_back(route: RouteName, name: str) -> None:
    assert str(route) == name
    assert RouteName.parse(name) == route


def test_route_kinds_are_read_from_the_name() -> None:
    assert RouteName.parse("15001").kind is RouteKind.OUTBOUND_PORT
    assert RouteName.parse("http.80").kind is RouteKind.GATEWAY_HTTP
    parsed = RouteName.parse("https.443.https-web.web-gw.prod")
    assert (parsed.kind, parsed.port, parsed.port_name, parsed.gateway, parsed.namespace) == (
        RouteKind.GATEWAY_HTTPS,
        443,
        "https-web",
        "web-gw",
        "prod",
    )


@pytest.mark.parametrize(
    "name",
    [
        "",
        "routes",  # no port anywhere
        "0",  # port out of range
        "inbound|9080|http|reviews",  # inbound routes carry only the port
        "http.web",  # gateway port not a number
        "https.443.https.gw",  # namespace missing
        "reviews:http",
    ],
)
def test_bad_route_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError):
        RouteName.parse(name)


def test_https_route_parts_cannot_hold_dots() -> None:
    with pytest.raises(InvalidNameError, match="without dots"):
        RouteName.gateway_https(443, "https", "my.gateway", "default")


def test_virtual_host_names() -> None:
    assert virtual_host_name(REVIEWS, 9080) == f"{REVIEWS}:9080"
    assert virtual_host_name("10.0.0.1", 80) == "10.0.0.1:80"
    assert virtual_host_name("fd00::1", 80) == "[fd00::1]:80"
    assert inbound_virtual_host_name(9080) == "inbound|http|9080"
    with pytest.raises(InvalidNameError):
        virtual_host_name(REVIEWS, 0)


NODES = [
    (NodeId(ProxyType.SIDECAR, "10.1.2.3", "reviews-v1-7d8c9", "default"),
     "sidecar~10.1.2.3~reviews-v1-7d8c9.default~default.svc.cluster.local"),
    (NodeId(ProxyType.ROUTER, "127.0.0.1", "istio-ingressgateway-5f", "istio-system"),
     "router~127.0.0.1~istio-ingressgateway-5f.istio-system~istio-system.svc.cluster.local"),
    (NodeId(ProxyType.SIDECAR, "fd00::7", "vm.1.example", "ns", dns_suffix="corp.example"),
     "sidecar~fd00::7~vm.1.example.ns~ns.svc.corp.example"),
]  # fmt: skip


@pytest.mark.parametrize(("node", "name"), NODES, ids=[n for _, n in NODES])
def test_node_ids_print_and_parse_back(node: NodeId, name: str) -> None:
    assert str(node) == name
    assert NodeId.parse(name) == node


def test_node_id_parts() -> None:
    node = NodeId.parse("sidecar~10.1.2.3~reviews-v1-7d8c9.default~default.svc.cluster.local")
    assert node.workload_id == "reviews-v1-7d8c9.default"
    assert node.dns_domain == "default.svc.cluster.local"
    assert node.proxy_type is ProxyType.SIDECAR


@pytest.mark.parametrize(
    "name",
    [
        "sidecar~10.1.2.3~reviews.default",  # three fields
        "gateway~10.1.2.3~reviews.default~default.svc.cluster.local",  # unknown type
        "sidecar~not-an-ip~reviews.default~default.svc.cluster.local",
        "sidecar~10.1.2.3~reviews~default.svc.cluster.local",  # no namespace in the id
        "sidecar~10.1.2.3~reviews.default~other.svc.cluster.local",  # domain of another ns
        "sidecar~10.1.2.3~reviews.default~default.cluster.local",  # no .svc.
        "sidecar~10.1.2.3~.default~default.svc.cluster.local",  # empty workload
    ],
)
def test_bad_node_ids_are_refused(name: str) -> None:
    with pytest.raises(InvalidNameError):
        NodeId.parse(name)
