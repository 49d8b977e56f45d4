"""Host names, DNS labels, IP addresses and CIDR blocks, checked as Istio checks them.

Every `check_*` function returns None when the value is valid, else a message saying
what is wrong and what would be valid.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = [
    "check_dns1123_label",
    "check_fqdn",
    "check_ip_or_cidr",
    "check_namespace_slash_host",
    "check_wildcard_domain",
    "is_dns1123_label",
    "is_ip",
    "is_k8s_namespace",
    "is_k8s_subdomain",
]

# Istio's DNS label: RFC 1123, either case (Kubernetes object names are lowercase only).
_LABEL = re.compile(r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")
_WILDCARD_LABEL = re.compile(r"\*|(?:\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")
_K8S_LABEL = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?")
_K8S_SUBDOMAIN = re.compile(
    r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*"
)
_DIGITS = re.compile(r"[0-9]+")
_MAX_LABEL = 63
_MAX_DOMAIN = 255
_MAX_SUBDOMAIN = 253


def is_dns1123_label(value: str) -> bool:
    """True for an RFC 1123 label of at most 63 characters (letters of either case)."""
    return len(value) <= _MAX_LABEL and _LABEL.fullmatch(value) is not None


def is_k8s_namespace(value: str) -> bool:
    """True for a valid Kubernetes namespace name (lowercase RFC 1123 label)."""
    return len(value) <= _MAX_LABEL and _K8S_LABEL.fullmatch(value) is not None


def is_k8s_subdomain(value: str) -> bool:
    """True for a valid Kubernetes object name (lowercase RFC 1123 subdomain)."""
    return len(value) <= _MAX_SUBDOMAIN and _K8S_SUBDOMAIN.fullmatch(value) is not None


def is_ip(value: str) -> bool:
    """True for an IPv4 or IPv6 address (no prefix length)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return "/" in value


def check_ip_or_cidr(value: str) -> str | None:
    """Accept an IP address or a CIDR block (`10.0.0.0/8`, `2001:db8::/32`)."""
    if is_ip(value) or _is_cidr(value):
        return None
    return f"{value!r} is not a valid IP address or CIDR block (e.g. 10.0.0.1 or 10.0.0.0/16)"


def check_dns1123_label(value: str, what: str) -> str | None:
    """Accept an RFC 1123 label (letters, digits and '-', at most 63 characters)."""
    if is_dns1123_label(value):
        return None
    return (
        f"{what} {value!r} is not a valid DNS label "
        "(letters, digits and '-', starting and ending with a letter or digit, at most 63)"
    )


def _preconditions(domain: str) -> str | None:
    if not domain:
        return "host name must not be empty"
    if len(domain) > _MAX_DOMAIN:
        return f"host name {domain[:40]!r}... is too long (at most {_MAX_DOMAIN} characters)"
    return None


def _check_labels(domain: str, labels: str) -> str | None:
    parts = labels.split(".")
    if _DIGITS.fullmatch(parts[-1]):
        return f"host name {domain!r} is invalid: the top-level label {parts[-1]!r} is all digits"
    for i, label in enumerate(parts):
        if i == len(parts) - 1 and label == "":
            return None  # a trailing dot makes a name absolute: `istio.io.`
        if not is_dns1123_label(label):
            return (
                f"host name {domain!r} is invalid: label {label!r} is not a DNS label "
                "(letters, digits and '-', at most 63 characters)"
            )
    return None


def check_fqdn(domain: str) -> str | None:
    """Accept a DNS name without wildcards (short names such as `reviews` included)."""
    return _preconditions(domain) or _check_labels(domain, domain)


def check_wildcard_domain(domain: str) -> str | None:
    """Accept a DNS name whose leftmost label may be `*` or start with `*`.

    `*`, `*.example.com`, `*foo.example.com`, `reviews` and `reviews.default.svc` are
    valid; `foo.*.com` and `*.*.com` are not.
    """
    problem = _preconditions(domain)
    if problem:
        return problem
    first, dot, rest = domain.partition(".")
    if len(first) > _MAX_LABEL or _WILDCARD_LABEL.fullmatch(first) is None:
        return (
            f"host name {domain!r} is invalid: label {first!r} is not a DNS label; "
            "'*' is allowed only as (the start of) the leftmost label, e.g. *.example.com"
        )
    if dot:
        return _check_labels(domain, rest)
    return None


def check_namespace_slash_host(value: str, *, namespace_required: bool) -> str | None:
    """Accept `namespace/host` (Gateway and Sidecar hosts).

    The namespace is `*`, `.`, `~` (Sidecar only, when `namespace_required`) or a DNS
    label; the host is `*` or a (wildcard) DNS name. Gateway hosts may omit the namespace.
    """
    parts = value.split("/")
    if len(parts) > 2:
        return f"{value!r} must be of the form namespace/host (one '/')"
    if len(parts) == 1:
        if namespace_required:
            return f"{value!r} must be of the form namespace/host, e.g. ./*, istio-system/*"
        host = parts[0]
    else:
        namespace, host = parts
        allowed = ("*", ".", "~") if namespace_required else ("*", ".")
        if namespace not in allowed and not is_dns1123_label(namespace):
            return (
                f"namespace {namespace!r} in {value!r} must be "
                + ", ".join(repr(a) for a in allowed)
                + " or a DNS label"
            )
    if host == "*":
        return None
    return check_wildcard_domain(host)
