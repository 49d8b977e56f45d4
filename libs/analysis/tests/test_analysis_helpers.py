"""Host names, selectors and match coverage, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from mizzen.analysis.analyzers.route_matches import covers
from mizzen.analysis.hosts import (
    export_scopes,
    gateway_hosts_for_namespace,
    hosts_match,
    namespace_of_host,
    resolve_gateway,
    to_fqdn,
)
from mizzen.analysis.workloads import selector_matches, selector_text


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("reviews", "reviews", True),
        ("reviews", "ratings", False),
        ("*", "anything.example.com", True),
        ("*.example.com", "foo.example.com", True),
        ("foo.example.com", "*.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "*.foo.example.com", True),
        ("*.foo.example.com", "*.bar.example.com", False),
        ("*foo.example.com", "barfoo.example.com", True),
    ],
)
def test_hosts_match(a: str, b: str, overlap: bool) -> None:
    assert hosts_match(a, b) is overlap
    assert hosts_match(b, a) is overlap


@pytest.mark.parametrize(
    ("host", "namespace", "fqdn"),
    [
        ("reviews", "bookinfo", "reviews.bookinfo.svc.cluster.local"),
        ("reviews.bookinfo", "default", "reviews.bookinfo"),
        ("*", "default", "*"),
        ("*.example.com", "default", "*.example.com"),
    ],
)
def test_to_fqdn(host: str, namespace: str, fqdn: str) -> None:
    assert to_fqdn(host, namespace) == fqdn


@pytest.mark.parametrize(
    ("fqdn", "namespace"),
    [
        ("reviews.bookinfo.svc.cluster.local", "bookinfo"),
        ("*.bookinfo.svc.cluster.local", "bookinfo"),
        ("*.svc.cluster.local", None),
        ("a.b.c.svc.cluster.local", None),
        ("api.example.com", None),
    ],
)
def test_namespace_of_host(fqdn: str, namespace: str | None) -> None:
    assert namespace_of_host(fqdn) == namespace


@pytest.mark.parametrize(
    ("reference", "resolved"),
    [
        ("gw", ("vsns", "gw")),
        ("istio-system/gw", ("istio-system", "gw")),
        ("gw.istio-system", ("istio-system", "gw")),
        ("gw.istio-system.svc.cluster.local", ("istio-system", "gw")),
    ],
)
def test_resolve_gateway(reference: str, resolved: tuple[str, str]) -> None:
    assert resolve_gateway(reference, "vsns") == resolved


def test_gateway_hosts_for_namespace() -> None:
    hosts = ["a.com", "./b.com", "*/c.com", "shop/d.com", "other/e.com"]
    assert gateway_hosts_for_namespace(hosts, "gwns", "shop") == ["a.com", "c.com", "d.com"]
    assert gateway_hosts_for_namespace(hosts, "gwns", "gwns") == ["a.com", "b.com", "c.com"]


def test_export_scopes() -> None:
    assert export_scopes(None, "ns") == ["*"]
    assert export_scopes([".", "*"], "ns") == ["*"]
    assert export_scopes([".", "other", "ns"], "ns") == ["ns", "other"]


def test_selectors() -> None:
    assert selector_matches({"app": "a"}, {"app": "a", "version": "v1"})
    assert not selector_matches({"app": "a", "version": "v2"}, {"app": "a", "version": "v1"})
    assert selector_matches(None, {"app": "a"})
    assert selector_text({"version": "v1", "app": "a"}) == "app=a,version=v1"
    assert selector_text(None) == ""


@pytest.mark.parametrize(
    ("earlier", "later", "covered"),
    [
        ({}, {"uri": {"exact": "/x"}}, True),
        ({"uri": {"prefix": "/"}}, {"headers": {"x": {"exact": "1"}}}, True),
        ({"uri": {"prefix": "/api"}}, {"uri": {"prefix": "/api/v1"}}, True),
        ({"uri": {"prefix": "/api"}}, {"uri": {"exact": "/api"}}, True),
        ({"uri": {"prefix": "/api/v1"}}, {"uri": {"prefix": "/api"}}, False),
        ({"uri": {"prefix": "/api"}}, {"uri": {"regex": "/api.*"}}, False),
        ({"uri": {"regex": "/.*"}}, {"uri": {"exact": "/x"}}, False),
        ({"uri": {"prefix": "/a"}, "port": 80}, {"uri": {"prefix": "/a"}}, False),
        ({"uri": {"prefix": "/a"}}, {"uri": {"prefix": "/a"}, "port": 80}, True),
        ({"method": {"exact": "GET"}}, {"method": {"exact": "POST"}}, False),
        ({"headers": {"x": {"prefix": "a"}}}, {"headers": {"x": {"exact": "ab"}, "y": {}}}, True),
        ({"headers": {"x": {"exact": "a"}}}, {"headers": {"y": {"exact": "a"}}}, False),
        ({"queryParams": {"q": {"exact": "1"}}}, {"queryParams": {"q": {"exact": "1"}}}, True),
        ({"sourceLabels": {"app": "a"}}, {"sourceLabels": {"app": "a", "v": "1"}}, True),
        ({"sourceLabels": {"app": "a"}}, {}, False),
        ({"gateways": ["g1"]}, {"gateways": ["g1"]}, True),
        ({"gateways": ["g1"]}, {}, False),
        ({"withoutHeaders": {"x": {"exact": "1"}}}, {}, False),
        ({"uri": {"prefix": "/A"}, "ignoreUriCase": True}, {"uri": {"prefix": "/a/b"}}, True),
        ({"uri": {"prefix": "/a"}}, {"uri": {"prefix": "/a"}, "ignoreUriCase": True}, False),
        (
            {"uri": {"prefix": "/a"}, "scheme": {"exact": "https"}},
            {"uri": {"prefix": "/a/"}},
            False,
        ),
        ({"name": "n", "statPrefix": "s"}, {"uri": {"exact": "/"}}, True),
    ],
)
def test_covers(earlier: dict[str, Any], later: dict[str, Any], covered: bool) -> None:
    assert covers(earlier, later) is covered
