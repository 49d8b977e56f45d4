"""Matching of wildcard host names (`*.example.com`) against each other."""

from __future__ import annotations

__all__ = ["host_covers"]


def host_covers(pattern: str, host: str) -> bool:
    """True when every name matched by `host` is matched by `pattern`.

    `*` covers everything; `*.example.com` covers `a.example.com` and
    `*.a.example.com`; `*foo.com` covers `barfoo.com`. Comparison ignores case.
    """
    pattern, host = pattern.lower(), host.lower()
    if pattern in ("*", host):
        return True
    if not pattern.startswith("*"):
        return False
    suffix = pattern[1:]
    if host.startswith("*"):
        return host[1:].endswith(suffix)
    return host.endswith(suffix) and len(host) > len(suffix)
