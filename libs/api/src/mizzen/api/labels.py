"""Kubernetes label keys and values, and header names, as Istio checks them."""

from __future__ import annotations

import re

from mizzen.api.hosts import is_k8s_subdomain

__all__ = ["check_header_name", "check_label_key", "check_label_value", "check_labels"]

_NAME = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_VALUE = re.compile(r"(?:(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_HEADER = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_MAX = 63


def check_label_key(key: str, what: str = "label key") -> str | None:
    """Accept `name` or `prefix/name`: prefix a DNS subdomain, name at most 63 of [-_.A-Za-z0-9]."""
    prefix, slash, name = key.rpartition("/")
    if slash and not is_k8s_subdomain(prefix):
        return f"{what} {key!r}: prefix {prefix!r} must be a lowercase DNS subdomain"
    if len(name) > _MAX or _NAME.fullmatch(name) is None:
        return (
            f"invalid {what} {key!r}: the name must be at most 63 characters of "
            "letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
        )
    return None


def check_label_value(value: str) -> str | None:
    """Accept "" or at most 63 of [-_.A-Za-z0-9], starting and ending alphanumeric."""
    if len(value) > _MAX or _VALUE.fullmatch(value) is None:
        return (
            f"invalid label value {value!r}: must be empty or at most 63 characters of "
            "letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
        )
    return None


def check_labels(labels: dict[str, str]) -> list[tuple[str, str]]:
    """Check every key and value; return (key, message) for each problem."""
    problems: list[tuple[str, str]] = []
    for key, value in labels.items():
        problem = check_label_key(key) or check_label_value(value)
        if problem:
            problems.append((key, problem))
    return problems


def check_header_name(name: str) -> str | None:
    """Accept an HTTP header name (an RFC 7230 token; pseudo-headers such as `:authority`)."""
    if not name:
        return "header name must not be empty"
    token = name[1:] if name.startswith(":") else name
    if _HEADER.fullmatch(token) is None:
        return f"invalid header name {name!r}: use letters, digits and !#$%&'*+-.^_`|~"
    return None
