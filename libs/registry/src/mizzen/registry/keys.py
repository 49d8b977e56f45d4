"""Where registry values live in etcd (see docs/state.md)."""

from __future__ import annotations

REGISTRY_PREFIX = "/mizzen/registry/"
SERVICES_PREFIX = "/mizzen/registry/services/"
ENDPOINTS_PREFIX = "/mizzen/registry/endpoints/"


def service_key(hostname: str) -> str:
    """The key of the service ``hostname``."""
    return f"{SERVICES_PREFIX}{hostname}"


def endpoints_prefix(hostname: str) -> str:
    """The prefix holding every endpoint of the service ``hostname``."""
    return f"{ENDPOINTS_PREFIX}{hostname}/"


def endpoint_key(hostname: str, endpoint_id: str) -> str:
    """The key of one endpoint of ``hostname``."""
    return f"{ENDPOINTS_PREFIX}{hostname}/{endpoint_id}"
