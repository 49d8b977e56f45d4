"""Helpers for tests that register workloads with discovery and check what it wrote to etcd."""

from __future__ import annotations

from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.registry import (
    Endpoint,
    Service,
    decode_endpoint,
    decode_service,
    endpoints_prefix,
    service_key,
)
from mizzen.store import KeyValue, Store

TEST_TTL = 2
"""A short lease TTL (seconds) for tests: ``MIZZEN_DISCOVERY_LEASE_TTL_SECONDS``."""


def workload(
    name: str = "reviews-v1",
    *,
    service: str = "reviews",
    port: int = 9080,
    address: str = "127.0.0.11",
    namespace: str = "",
    labels: dict[str, str] | None = None,
    protocol: str = "",
) -> pb.Workload:
    """A registration of one workload serving one port of one service."""
    return pb.Workload(
        name=name,
        namespace=namespace,
        address=address,
        labels=labels if labels is not None else {"app": "reviews", "version": "v1"},
        services=[
            pb.ServedService(service=service, ports=[pb.ServedPort(number=port, protocol=protocol)])
        ],
    )


async def read_service(store: Store, hostname: str) -> Service | None:
    """The stored service ``hostname``, if any."""
    kv = await store.get(service_key(hostname))
    return decode_service(kv.value) if kv is not None else None


async def read_endpoints(store: Store, hostname: str) -> dict[str, tuple[Endpoint, KeyValue]]:
    """The stored endpoints of ``hostname`` by endpoint id, with their key-values."""
    listing = await store.range(endpoints_prefix(hostname))
    decoded = [(decode_endpoint(kv.value), kv) for kv in listing.kvs]
    return {endpoint.endpoint_id: (endpoint, kv) for endpoint, kv in decoded}
