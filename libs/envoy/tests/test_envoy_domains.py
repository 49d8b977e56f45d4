"""Virtual host domains: the Host headers that reach a service, as Istio generates them."""

from __future__ import annotations

from typing import Any

import pytest

from mizzen.envoy import PortMatching, alternate_hosts, virtual_host_domains

REVIEWS = "reviews.default.svc.cluster.local"

CASES = [
    # same namespace, ports ignored (Istio's sidecars): FQDN, short, .svc, name.ns
    ("same-ns-ignored", REVIEWS, 9080, "default", PortMatching.IGNORED, (),
     [REVIEWS, "reviews", "reviews.default.svc", "reviews.default"]),
    # same namespace, with and without port, in Istio's interleaved order
    ("same-ns-both", REVIEWS, 9080, "default", PortMatching.BOTH, (),
     [REVIEWS, f"{REVIEWS}:9080", "reviews", "reviews:9080", "reviews.default.svc",
      "reviews.default.svc:9080", "reviews.default", "reviews.default:9080"]),
    # another namespace: never the bare short name, which means that namespace's service
    ("other-ns-both", REVIEWS, 9080, "prod", PortMatching.BOTH, (),
     [REVIEWS, f"{REVIEWS}:9080", "reviews.default", "reviews.default:9080",
      "reviews.default.svc", "reviews.default.svc:9080"]),
    ("other-ns-ignored", REVIEWS, 9080, "prod", PortMatching.IGNORED, (),
     [REVIEWS, "reviews.default", "reviews.default.svc"]),
    # the merged http_proxy route: only host:port forms off port 80...
    ("http-proxy-9080", REVIEWS, 9080, "default", PortMatching.HTTP_PROXY, (),
     [f"{REVIEWS}:9080", "reviews:9080", "reviews.default.svc:9080", "reviews.default:9080"]),
    # ...and both forms on port 80, where clients leave the port out
    ("http-proxy-80", REVIEWS, 80, "default", PortMatching.HTTP_PROXY, (),
     [REVIEWS, f"{REVIEWS}:80", "reviews", "reviews:80", "reviews.default.svc",
      "reviews.default.svc:80", "reviews.default", "reviews.default:80"]),
    # a host outside the mesh's DNS suffix gets no short forms
    ("external", "api.example.com", 443, "default", PortMatching.BOTH, (),
     ["api.example.com", "api.example.com:443"]),
    ("wildcard", "*.example.com", 80, "default", PortMatching.IGNORED, (), ["*.example.com"]),
    # service addresses follow the names; IPv6 in brackets; the unspecified address is skipped
    ("addresses", REVIEWS, 9080, "prod", PortMatching.BOTH, ("10.0.0.7", "fd00::7", "0.0.0.0", ""),
     [REVIEWS, f"{REVIEWS}:9080", "reviews.default", "reviews.default:9080",
      "reviews.default.svc", "reviews.default.svc:9080", "10.0.0.7", "10.0.0.7:9080",
      "[fd00::7]", "[fd00::7]:9080"]),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_domains_follow_istio(case: tuple[Any, ...]) -> None:
    _, hostname, port, namespace, matching, addresses, expected = case
    domains = virtual_host_domains(
        hostname, port, proxy_namespace=namespace, matching=matching, addresses=addresses
    )
    assert domains == expected


def test_custom_dns_suffix() -> None:
    host = "ratings.shop.svc.corp.example"
    assert alternate_hosts(host, "shop", "corp.example") == [
        "ratings",
        "ratings.shop.svc",
        "ratings.shop",
    ]
    # the same host under the default suffix is not a Kubernetes name: no short forms
    assert alternate_hosts(host, "shop", "cluster.local") == []


def test_domains_of_one_port_do_not_collide_across_services_in_a_merged_route() -> None:
    # Envoy rejects a RouteConfiguration in which two virtual hosts share a domain; in the
    # http_proxy route, two ports of one service must not both claim the bare names.
    seen: set[str] = set()
    for port in (80, 9080, 9090):
        domains = virtual_host_domains(
            REVIEWS, port, proxy_namespace="default", matching=PortMatching.HTTP_PROXY
        )
        assert not seen & set(domains)
        seen |= set(domains)
