"""Port protocol names Istio recognizes."""

from __future__ import annotations

__all__ = ["PROTOCOLS", "TLS_PROTOCOLS", "check_protocol"]

PROTOCOLS = frozenset({
    "HTTP", "HTTPS", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-WEB", "TCP", "TLS", "UDP",
    "MONGO", "REDIS", "MYSQL",
})  # fmt: skip
TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})


def check_protocol(protocol: str) -> str | None:
    """Accept a protocol name Istio knows (any case); return what is wrong otherwise."""
    if protocol.upper() in PROTOCOLS:
        return None
    return f"unknown protocol {protocol!r}: use one of " + ", ".join(sorted(PROTOCOLS))
