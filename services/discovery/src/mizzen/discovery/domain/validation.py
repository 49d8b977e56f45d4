"""Checks of names, labels and addresses, each returning what is wrong (``None`` when valid)."""

from __future__ import annotations

import ipaddress
import re

MAX_LABEL = 63
MAX_SUBDOMAIN = 253

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")


def dns_label_problem(value: str) -> str | None:
    """What keeps ``value`` from being an RFC 1123 DNS label (``reviews``, ``v2-api``)."""
    if not value:
        return "is required"
    if len(value) > MAX_LABEL:
        return f"{value!r} is longer than {MAX_LABEL} characters"
    if not _DNS_LABEL.fullmatch(value):
        return (
            f"{value!r} is not a DNS label: use lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    return None


def dns_subdomain_problem(value: str) -> str | None:
    """What keeps ``value`` from being an RFC 1123 DNS subdomain (``reviews.default.svc``)."""
    if not value:
        return "is required"
    if len(value) > MAX_SUBDOMAIN:
        return f"{value!r} is longer than {MAX_SUBDOMAIN} characters"
    for part in value.split("."):
        if not part or len(part) > MAX_LABEL or not _DNS_LABEL.fullmatch(part):
            return (
                f"{value!r} is not a DNS name: use dot-separated labels of lower-case letters, "
                "digits and '-', each starting and ending with a letter or digit"
            )
    return None


def label_key_problem(key: str) -> str | None:
    """What keeps ``key`` from being a Kubernetes label key (``app``, ``example.com/tier``)."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or dns_subdomain_problem(prefix) is not None):
        return f"label key {key!r} has an invalid prefix: it must be a DNS subdomain"
    if not name or len(name) > MAX_LABEL or not _LABEL_NAME.fullmatch(name):
        return (
            f"label key {key!r} is invalid: at most {MAX_LABEL} letters, digits, '-', '_' or "
            "'.', starting and ending with a letter or digit (with an optional DNS prefix/)"
        )
    return None


def label_value_problem(value: str) -> str | None:
    """What keeps ``value`` from being a Kubernetes label value (empty is valid)."""
    if not value:
        return None
    if len(value) > MAX_LABEL or not _LABEL_NAME.fullmatch(value):
        return (
            f"label value {value!r} is invalid: at most {MAX_LABEL} letters, digits, '-', '_' "
            "or '.', starting and ending with a letter or digit"
        )
    return None


def address_problem(value: str) -> str | None:
    """What keeps ``value`` from being a workload's IP address (v4 or v6, unicast)."""
    if not value:
        return "is required (the workload's IPv4 or IPv6 address)"
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return f"{value!r} is not an IPv4 or IPv6 address"
    if address.is_unspecified or address.is_multicast or getattr(address, "scope_id", None):
        return f"{value!r} cannot be reached: use the workload's own unicast address"
    return None


def port_problem(value: int) -> str | None:
    """What keeps ``value`` from being a port number."""
    if not 1 <= value <= 65535:
        return f"port {value} is out of range: use 1..65535"
    return None
