"""Generator semantics the golden files show but do not single out: errors that name the
generator and resource, Istio's precedence rules, Sidecar selection, the mesh config index,
and output that does not depend on the order of the inputs."""

from __future__ import annotations

import re
from typing import Any

import pytest
from envoy.config.cluster.v3.cluster_pb2 import Cluster

from mizzen.api import DestinationRule, VirtualService
from mizzen.envoy import CLUSTER_TYPE, LISTENER_TYPE, ROUTE_TYPE, decode
from mizzen.snapshots import ProxyClass, ProxyType
from mizzen.translator.domain.generation import BuildConfig, Generate
from mizzen.translator.domain.generators import (
    GeneratorError,
    MeshIndex,
    ProxyView,
    generate,
    load_scenario,
)
from mizzen.translator.domain.generators.delegation import delegated_routes
from mizzen.translator.domain.mesh_config import MeshConfig, resolve_host

REVIEWS = "reviews.bookinfo.svc.cluster.local"

SERVICES = """
services:
  - {hostname: reviews.bookinfo.svc.cluster.local, namespace: bookinfo, ports: [{number: 9080,
     protocol: HTTP, name: http}]}
"""


def _scenario(extra: str, **proxy: Any) -> tuple[Any, ProxyClass]:
    scenario = load_scenario(SERVICES + extra, "behaviour")
    merged = {**scenario.proxy.to_dict(), **proxy}
    return scenario, ProxyClass.from_dict(merged)


def _clusters(generated: Any) -> dict[str, Any]:
    return {r.name: decode(r) for r in generated.of_type(CLUSTER_TYPE)}


def _routes(generated: Any) -> dict[str, Any]:
    return {r.name: decode(r) for r in generated.of_type(ROUTE_TYPE)}


def test_a_failing_generator_is_named_with_the_resource_at_fault() -> None:
    # Validation at apply time refuses this duration; a rule that slipped through (built
    # without the API's rules) must still fail loudly, naming the generator and the rule.
    rule = DestinationRule.model_validate(
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": "broken", "namespace": "bookinfo"},
            "spec": {
                "host": "reviews",
                "trafficPolicy": {"connectionPool": {"tcp": {"connectTimeout": "soon"}}},
            },
        }
    )
    scenario, proxy = _scenario("")
    config = MeshConfig.from_resources([rule])
    with pytest.raises(GeneratorError) as caught:
        generate(config, scenario.registry, proxy)
    assert caught.value.generator == "cds-outbound"
    assert caught.value.resource == "DestinationRule/bookinfo/broken"
    assert "soon" in str(caught.value)


def test_local_mode_without_an_address_fails_in_the_listener_generator() -> None:
    scenario, proxy = _scenario("", localAddress="")
    with pytest.raises(GeneratorError) as caught:
        generate(scenario.config, scenario.registry, proxy)
    assert caught.value.generator == "lds"
    assert "LOCAL_ADDRESS" in str(caught.value)


def test_an_inbound_port_on_the_proxy_port_is_refused_by_name() -> None:
    scenario, proxy = _scenario("", inbound=[[15001, 8080, "HTTP"]])
    with pytest.raises(GeneratorError) as caught:
        generate(scenario.config, scenario.registry, proxy)
    assert caught.value.generator == "lds"
    assert "15001" in str(caught.value)


RULES = """
config:
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: in-root, namespace: istio-system}
    spec: {host: reviews.bookinfo.svc.cluster.local,
       trafficPolicy: {loadBalancer: {simple: RANDOM}}}
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: in-service-ns, namespace: bookinfo}
    spec: {host: reviews, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: in-client-ns, namespace: shop}
    spec: {host: reviews.bookinfo.svc.cluster.local,
       trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}}
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: selected, namespace: shop}
    spec:
      host: reviews.bookinfo.svc.cluster.local
      workloadSelector: {matchLabels: {track: canary}}
      trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}
"""


@pytest.mark.parametrize(
    ("namespace", "labels", "expected"),
    [
        ("shop", {"app": "cart", "track": "canary"}, "selected"),
        ("shop", {"app": "cart"}, "in-client-ns"),
        ("bookinfo", {"app": "cart", "track": "canary"}, "in-service-ns"),
        ("elsewhere", {}, "in-service-ns"),
    ],
)
def test_destination_rule_precedence(namespace: str, labels: dict[str, str], expected: str) -> None:
    scenario, proxy = _scenario(RULES, namespace=namespace, labels=labels)
    view = ProxyView(MeshIndex(scenario.config, scenario.registry), proxy)
    rule = view.destination_rule(REVIEWS)
    assert rule is not None
    assert rule.name == expected


def test_the_root_namespace_rule_applies_when_no_other_does() -> None:
    header, root_rule = RULES.split("  - apiVersion", 2)[:2]
    only_root = header + "  - apiVersion" + root_rule
    scenario, proxy = _scenario(only_root, namespace="shop")
    view = ProxyView(MeshIndex(scenario.config, scenario.registry), proxy)
    rule = view.destination_rule(REVIEWS)
    assert rule is not None
    assert rule.name == "in-root"


SPLIT_RULES = """
config:
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: reviews-b, namespace: bookinfo, creationTimestamp: "2026-01-02T00:00:00Z"}
    spec:
      host: reviews
      trafficPolicy: {loadBalancer: {simple: RANDOM}}
      subsets:
        - {name: v1, labels: {version: v1-from-b}}
        - {name: v3, labels: {version: v3}}
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: reviews-a, namespace: bookinfo, creationTimestamp: "2026-01-01T00:00:00Z"}
    spec:
      host: reviews.bookinfo.svc.cluster.local
      subsets:
        - {name: v1, labels: {version: v1}}
        - {name: v2, labels: {version: v2}}
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata:
      {name: reviews-private, namespace: bookinfo, creationTimestamp: "2025-01-01T00:00:00Z"}
    spec:
      host: reviews
      exportTo: ["."]
      trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
      subsets: [{name: v9, labels: {version: v9}}]
"""


def test_rules_for_one_host_in_one_namespace_are_merged_as_istio_merges_them() -> None:
    # Oldest first (creationTimestamp, not the name): reviews-a's subsets, then reviews-b's
    # new ones (its v1 is dropped: the first definition wins), and the first top-level
    # policy set (reviews-b's, reviews-a having none). reviews-private has another exportTo:
    # not merged with them, and not visible from shop at all.
    scenario, proxy = _scenario(SPLIT_RULES, namespace="shop")
    view = ProxyView(MeshIndex(scenario.config, scenario.registry), proxy)
    rule = view.destination_rule(REVIEWS)
    assert rule is not None
    assert rule.name == "reviews-a"
    assert [(s.name, s.labels) for s in rule.spec.subsets or ()] == [
        ("v1", {"version": "v1"}), ("v2", {"version": "v2"}), ("v3", {"version": "v3"})
    ]  # fmt: skip
    assert rule.spec.traffic_policy is not None
    assert rule.spec.traffic_policy.load_balancer is not None
    assert rule.spec.traffic_policy.load_balancer.simple == "RANDOM"
    clusters = _clusters(generate(scenario.config, scenario.registry, proxy))
    subset_clusters = {n for n in clusters if n.startswith("outbound|9080|v")}
    assert subset_clusters == {f"outbound|9080|{v}|{REVIEWS}" for v in ("v1", "v2", "v3")}
    assert (
        clusters[f"outbound|9080|v3|{REVIEWS}"].lb_policy
        == clusters[f"outbound|9080||{REVIEWS}"].lb_policy
    )
    assert clusters[f"outbound|9080|v3|{REVIEWS}"].lb_policy == Cluster.RANDOM


def test_a_rule_with_another_export_scope_is_not_merged() -> None:
    # Seen from its own namespace, reviews-private (the oldest) wins alone: rules with
    # different exportTo are not merged.
    scenario, proxy = _scenario(SPLIT_RULES, namespace="bookinfo")
    view = ProxyView(MeshIndex(scenario.config, scenario.registry), proxy)
    rule = view.destination_rule(REVIEWS)
    assert rule is not None
    assert rule.name == "reviews-private"
    assert [s.name for s in rule.spec.subsets or ()] == ["v9"]


SIDECARS = """
  - {hostname: ratings.bookinfo.svc.cluster.local, namespace: bookinfo, ports: [{number: 9080,
     protocol: HTTP, name: http}]}
  - {hostname: cart.shop.svc.cluster.local, namespace: shop, ports: [{number: 8080,
     protocol: HTTP, name: http}]}
config:
  - apiVersion: networking.istio.io/v1
    kind: Sidecar
    metadata: {name: default, namespace: istio-system}
    spec: {egress: [{hosts: ["./*"]}]}
  - apiVersion: networking.istio.io/v1
    kind: Sidecar
    metadata: {name: cart, namespace: shop}
    spec:
      workloadSelector: {labels: {app: cart}}
      egress: [{hosts: ["bookinfo/ratings.bookinfo.svc.cluster.local"]}]
      outboundTrafficPolicy: {mode: REGISTRY_ONLY}
"""


@pytest.mark.parametrize(
    ("namespace", "labels", "visible", "allow_any"),
    [
        # The root namespace's Sidecar applies everywhere; its "." is the proxy's namespace.
        ("bookinfo", {"app": "reviews"}, {"reviews", "ratings"}, True),
        ("shop", {"app": "web"}, {"cart"}, True),
        # A Sidecar selecting the workload in its own namespace wins.
        ("shop", {"app": "cart"}, {"ratings"}, False),
    ],
)
def test_sidecar_selection_and_egress(
    namespace: str, labels: dict[str, str], visible: set[str], allow_any: bool
) -> None:
    scenario, proxy = _scenario(SIDECARS, namespace=namespace, labels=labels)
    view = ProxyView(MeshIndex(scenario.config, scenario.registry), proxy)
    assert {s.hostname.split(".")[0] for s in view.services} == visible
    assert view.allow_any is allow_any
    virtual_hosts = [vh.name for vh in _routes(generate(scenario.config, scenario.registry, proxy))
                     ["http_proxy"].virtual_hosts]  # fmt: skip
    assert virtual_hosts[-1] == ("allow_any" if allow_any else "block_all")


def test_a_virtual_service_with_no_route_for_this_proxy_leaves_the_default_route() -> None:
    scenario, proxy = _scenario(
        """
config:
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: reviews, namespace: bookinfo}
    spec:
      hosts: [reviews]
      http:
        - match: [{sourceLabels: {app: someone-else}}]
          route: [{destination: {host: reviews}}]
          timeout: 1s
""",
        labels={"app": "me"},
    )
    config = _routes(generate(scenario.config, scenario.registry, proxy))["http_proxy"]
    routes = next(vh for vh in config.virtual_hosts if vh.name == f"{REVIEWS}:9080").routes
    assert [r.name for r in routes] == ["connect", "default"]


def test_a_domain_is_claimed_by_one_virtual_host_only() -> None:
    # Two services sharing an address: Envoy rejects a domain in two virtual hosts.
    scenario = load_scenario(
        """
services:
  - {hostname: a.default.svc.cluster.local, namespace: default, ports: [{number: 80,
     protocol: HTTP, name: http}], addresses: [10.0.0.1]}
  - {hostname: b.default.svc.cluster.local, namespace: default, ports: [{number: 80,
     protocol: HTTP, name: http}], addresses: [10.0.0.1]}
""",
        "shared-address",
    )
    config = _routes(generate(scenario.config, scenario.registry, scenario.proxy))["http_proxy"]
    domains = [d for vh in config.virtual_hosts for d in vh.domains]
    assert len(domains) == len(set(domains))
    first, second = config.virtual_hosts[0], config.virtual_hosts[1]
    assert "10.0.0.1:80" in first.domains
    assert "10.0.0.1:80" not in second.domains


def test_output_does_not_depend_on_the_order_of_map_entries() -> None:
    def mesh(headers: dict[str, Any]) -> Any:
        vs = VirtualService.model_validate(
            {
                "apiVersion": "networking.istio.io/v1",
                "kind": "VirtualService",
                "metadata": {"name": "reviews", "namespace": "bookinfo"},
                "spec": {
                    "hosts": ["reviews"],
                    "http": [
                        {
                            "match": [{"headers": headers}],
                            "headers": {"request": {"set": {n: "x" for n in headers}}},
                            "route": [{"destination": {"host": "reviews"}}],
                        }
                    ],
                },
            }
        )
        scenario, proxy = _scenario("")
        return generate(MeshConfig.from_resources([vs]), scenario.registry, proxy)

    forward = {"a": {"exact": "1"}, "b": {"prefix": "2"}, "c": {"regex": "3"}}
    backward = dict(reversed(forward.items()))
    assert [s.entries for s in mesh(forward).sets] == [s.entries for s in mesh(backward).sets]


def test_mesh_config_indexes_hosts_resolved_against_their_namespace() -> None:
    scenario = load_scenario(
        """
config:
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: b, namespace: shop}
    spec: {hosts: [cart, "*.example.com"], http: [{route: [{destination: {host: cart}}]}]}
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: a, namespace: shop}
    spec: {hosts: [api.example.com], http: [{route: [{destination: {host: cart}}]}]}
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: {name: c, namespace: shop}
    spec: {hosts: ["*"], http: [{route: [{destination: {host: cart}}]}]}
  - apiVersion: security.istio.io/v1
    kind: PeerAuthentication
    metadata: {name: ignored, namespace: shop}
    spec: {}
""",
        "index",
    )
    config = scenario.config
    assert [v.name for v in config.virtual_services] == ["a", "b", "c"]
    assert [v.name for v in config.virtual_services_for("cart.shop.svc.cluster.local")] == [
        "b",
        "c",
    ]
    # Exact first, then wildcards from the most specific.
    assert [v.name for v in config.virtual_services_for("api.example.com")] == ["a", "b", "c"]
    assert config.virtual_services_in("shop") == config.virtual_services
    assert resolve_host("Reviews", "bookinfo") == REVIEWS
    assert resolve_host("reviews.bookinfo", "shop") == "reviews.bookinfo"
    assert resolve_host("*.example.com", "shop") == "*.example.com"


def test_proxyless_clients_get_their_own_sets_shared_among_them() -> None:
    scenario, sidecar = _scenario("")
    grpc = generate(scenario.config, scenario.registry, ProxyClass(ProxyType.PROXYLESS, "bookinfo"))
    relabelled = ProxyClass(ProxyType.PROXYLESS, "bookinfo", labels={"app": "other"})
    again = generate(scenario.config, scenario.registry, relabelled)
    elsewhere = generate(scenario.config, scenario.registry, ProxyClass(ProxyType.PROXYLESS, "x"))
    own = generate(scenario.config, scenario.registry, sidecar)
    ids = [s.set_id for s in grpc.sets]
    assert [i.split("-")[:2] for i in ids] == [
        ["cds", "proxyless"], ["eds", "proxyless"], ["lds", "proxyless"], ["rds", "proxyless"]
    ]  # fmt: skip
    assert not set(ids) & {s.set_id for s in own.sets}  # content differs from a sidecar's
    assert [s.set_id for s in again.sets] == ids  # labels alone change nothing
    # Short names depend on the client's namespace: listener names differ across them.
    assert {r.name for r in grpc.of_type(LISTENER_TYPE)} == {
        f"{REVIEWS}:9080", "reviews:9080", "reviews.bookinfo:9080", "reviews.bookinfo.svc:9080"
    }  # fmt: skip
    assert {r.name for r in elsewhere.of_type(LISTENER_TYPE)} == {
        f"{REVIEWS}:9080", "reviews.bookinfo:9080", "reviews.bookinfo.svc:9080"
    }  # fmt: skip
    assert set(_routes(grpc)) == {f"{REVIEWS}:9080"}


def test_generators_fit_the_pipeline_contract() -> None:
    # mypy checks these assignments against the pipeline's structural types.
    build: BuildConfig = MeshConfig.from_resources
    run: Generate = generate
    scenario, proxy = _scenario("")
    generated = run(build(list(scenario.config.virtual_services)), scenario.registry, proxy)
    assert {s.set_id.split("-")[0] for s in generated.sets} == {"cds", "eds", "lds", "rds"}
    assert all(isinstance(r.body, bytes) for s in generated.sets for r in s.resources)


def test_only_endpoints_depend_on_locality_and_only_when_a_rule_balances_by_it() -> None:
    outlier = """
config:
  - apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: reviews, namespace: bookinfo}
    spec: {host: reviews, trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3}}}
"""

    def set_ids(extra: str, locality: str) -> dict[str, str]:
        scenario, proxy = _scenario(extra, locality=locality)
        generated = generate(scenario.config, scenario.registry, proxy)
        return {re.sub(r"-[0-9a-f]{12}", "", s.set_id): s.set_id for s in generated.sets}

    # No rule balances by locality: proxies in two zones share every set.
    assert set_ids("", "us/a") == set_ids("", "eu/b")
    # With outlier detection (failover by locality), only their endpoints differ (EDS, and
    # the DNS clusters, whose endpoints are inline).
    east, west = set_ids(outlier, "us/a"), set_ids(outlier, "eu/b")
    assert {kind for kind in east if east[kind] != west[kind]} == {"eds", "cds-dns"}
    assert set_ids(outlier, "us/a") == east  # and equal places still share


@pytest.mark.parametrize(
    ("root", "leaf", "merged"),
    [
        ({"uri": {"prefix": "/a"}}, {"uri": {"prefix": "/a/b"}}, {"uri": {"prefix": "/a/b"}}),
        ({"uri": {"prefix": "/a"}}, {"uri": {"exact": "/a/x"}}, {"uri": {"exact": "/a/x"}}),
        ({"uri": {"prefix": "/a/b"}}, {"uri": {"prefix": "/a"}}, None),  # wider than root
        ({"uri": {"exact": "/a"}}, {"uri": {"prefix": "/a"}}, None),
        ({"uri": {"regex": "/a.*"}}, {"uri": {"prefix": "/a"}}, None),
        ({"uri": {"prefix": "/a"}, "headers": {"x": {"exact": "1"}}},
         {"headers": {"y": {"exact": "2"}}},
         {"uri": {"prefix": "/a"}, "headers": {"x": {"exact": "1"}, "y": {"exact": "2"}}}),
        ({"headers": {"x": {"exact": "1"}}}, {"headers": {"x": {"exact": "2"}}}, None),
        ({"port": 80}, {"port": 81}, None),
        ({"sourceLabels": {"app": "a"}}, {"sourceLabels": {"app": "b"}}, None),
        ({"gateways": ["gw"]}, {}, {"gateways": ["default/gw"]}),  # read in the delegate's ns
    ],
)  # fmt: skip
def test_a_delegate_match_must_narrow_the_roots(
    root: dict[str, Any], leaf: dict[str, Any], merged: dict[str, Any] | None
) -> None:
    def route(match: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"match": [match], "route": [{"destination": {"host": "reviews"}}], **extra}

    delegate = VirtualService.model_validate({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "team", "namespace": "team"}, "spec": {"http": [route(leaf)]},
    })  # fmt: skip
    root_vs = VirtualService.model_validate({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "root", "namespace": "default"},
        "spec": {"hosts": ["reviews"], "http": [{
            "match": [root], "timeout": "2s", "delegate": {"name": "team", "namespace": "team"}
        }]},
    })  # fmt: skip
    root_route = (root_vs.spec.http or [])[0]
    routes = list(delegated_routes(delegate, root_vs, root_route))
    if merged is None:
        assert routes == []
        return
    (only,) = routes
    assert only.timeout == "2s"  # inherited from the root route
    assert [m.to_dict() for m in only.match or ()] == [merged]
