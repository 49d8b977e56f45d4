"""Host names, durations, regexes, labels and wildcard matching, checked as Istio does."""

from __future__ import annotations

import pytest

from mizzen.api.durations import check_duration, parse_duration
from mizzen.api.hosts import (
    check_fqdn,
    check_ip_or_cidr,
    check_namespace_slash_host,
    check_wildcard_domain,
)
from mizzen.api.labels import check_header_name, check_label_key, check_label_value
from mizzen.api.regexes import check_regex
from mizzen.api.wildcards import host_covers


@pytest.mark.parametrize(
    "host",
    ["reviews", "reviews.default.svc.cluster.local", "*", "*.example.com", "*foo.example.com",
     "istio.io.", "Upper.Example.com", "a-b.c"],
)  # fmt: skip
def test_valid_wildcard_domains(host: str) -> None:
    """FQDNs, short names and a leftmost wildcard are accepted."""
    assert check_wildcard_domain(host) is None


@pytest.mark.parametrize(
    "host",
    ["", "foo.*.com", "*.*.com", "a..b", "-a.com", "a-.com", "foo.123", "a_b.com",
     "x" * 64 + ".com", ("a." * 128) + "com", "foo/bar"],
)  # fmt: skip
def test_invalid_wildcard_domains(host: str) -> None:
    """Wildcards elsewhere, empty labels, numeric TLDs and bad characters are refused."""
    assert check_wildcard_domain(host) is not None


def test_fqdn_refuses_wildcards() -> None:
    """check_fqdn accepts plain names only."""
    assert check_fqdn("a.example.com") is None
    assert check_fqdn("*.example.com") is not None


@pytest.mark.parametrize(
    ("value", "required", "ok"),
    [("./*", True, True), ("istio-system/*", True, True), ("~/*", True, True),
     ("*/foo.com", True, True), ("foo.com", True, False), ("foo.com", False, True),
     ("~/*", False, False), ("a/b/c", False, False), ("Bad_NS/x.com", False, False),
     ("ns/foo.*.com", False, False)],
)  # fmt: skip
def test_namespace_slash_host(value: str, required: bool, ok: bool) -> None:
    """Sidecar needs namespace/host (`~` allowed); Gateway may omit the namespace."""
    assert (check_namespace_slash_host(value, namespace_required=required) is None) is ok


@pytest.mark.parametrize(
    ("text", "nanos"),
    [("1s", 10**9), ("1.5s", 15 * 10**8), ("100ms", 10**8), ("1h30m", 5400 * 10**9),
     ("2us", 2000), ("0", 0), ("-1s", -(10**9)), (".5s", 5 * 10**8)],
)  # fmt: skip
def test_parse_duration(text: str, nanos: int) -> None:
    """Go duration syntax, protobuf's JSON form included."""
    assert parse_duration(text) == nanos


@pytest.mark.parametrize("text", ["", "1", "1d", "1e3s", "s", "1.2.3s", "\uff11s", "+", "10 s"])
def test_parse_duration_refuses(text: str) -> None:
    """Missing units, unknown units, exponents and non-ASCII digits are not durations."""
    assert parse_duration(text) is None


def test_duration_minimum_and_precision() -> None:
    """The CRD's 1ms minimum and the webhook's millisecond precision."""
    assert check_duration("1ms") is None
    assert "too short" in (check_duration("999us") or "")
    assert "precision" in (check_duration("1.0005s") or "")
    assert check_duration("500us", minimum_ms=None) is None


def test_regex_uses_re2_semantics() -> None:
    """RE2 refuses lookaround and backreferences that Python's re accepts."""
    assert check_regex(r"^/api/v[0-9]+/.*$") is None
    assert "invalid RE2" in (check_regex("(?=a)b") or "")
    assert check_regex(r"(a)\1") is not None
    assert check_regex("[") is not None


def test_ip_or_cidr() -> None:
    """Addresses and blocks of both families; nothing else."""
    for ok in ("10.0.0.1", "10.0.0.0/8", "2001:db8::/32", "::1"):
        assert check_ip_or_cidr(ok) is None
    for bad in ("300.1.1.1", "10.0.0.0/33", "host", ""):
        assert check_ip_or_cidr(bad) is not None


def test_labels_and_header_names() -> None:
    """Kubernetes label syntax; HTTP header tokens."""
    assert check_label_key("app.kubernetes.io/name") is None
    assert check_label_key("Bad_Prefix/name") is not None
    assert check_label_key("-x") is not None
    assert check_label_value("") is None
    assert check_label_value("v1.2_3-x") is None
    assert check_label_value("a b") is not None
    assert check_label_value("x" * 64) is not None
    assert check_header_name("x-request-id") is None
    assert check_header_name(":authority") is None
    assert check_header_name("bad header") is not None
    assert check_header_name("") is not None


@pytest.mark.parametrize(
    ("pattern", "host", "covers"),
    [("*", "anything.com", True), ("*.example.com", "a.example.com", True),
     ("*.example.com", "*.a.example.com", True), ("*.example.com", "example.com", False),
     ("a.example.com", "A.Example.com", True), ("a.example.com", "b.example.com", False),
     ("*.a.com", "*.com", False)],
)  # fmt: skip
def test_host_covers(pattern: str, host: str, covers: bool) -> None:
    """Whether every name `host` matches is matched by `pattern`."""
    assert host_covers(pattern, host) is covers
