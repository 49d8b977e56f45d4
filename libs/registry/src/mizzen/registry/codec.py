"""Registry values ↔ the JSON stored in etcd (see docs/state.md)."""

from __future__ import annotations

import json
from typing import Any

from mizzen.registry.model import (
    Endpoint,
    Health,
    Locality,
    Protocol,
    Resolution,
    Service,
    ServicePort,
    frozen_map,
)


def encode_service(service: Service) -> bytes:
    """The stored form of a service."""
    data = {
        "hostname": service.hostname,
        "namespace": service.namespace,
        "ports": [{"number": p.number, "protocol": p.protocol.value, "name": p.name}
                  for p in service.ports],
        "labels": dict(service.labels),
        "addresses": list(service.addresses),
        "resolution": service.resolution.value,
        "meshExternal": service.mesh_external,
        "exportTo": list(service.export_to),
        "source": service.source,
    }  # fmt: skip
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def decode_service(value: bytes) -> Service:
    """A service from its stored form (``ValueError``/``KeyError`` if it is not one)."""
    data: dict[str, Any] = json.loads(value)
    return Service(
        hostname=data["hostname"],
        namespace=data["namespace"],
        ports=tuple(
            ServicePort(int(p["number"]), Protocol(p.get("protocol", "HTTP")), p.get("name", ""))
            for p in data.get("ports", [])
        ),
        labels=frozen_map(data.get("labels")),
        addresses=tuple(data.get("addresses", ())),
        resolution=Resolution(data.get("resolution", "STATIC")),
        mesh_external=bool(data.get("meshExternal", False)),
        export_to=tuple(data.get("exportTo", ("*",))),
        source=data.get("source", ""),
    )


def encode_endpoint(endpoint: Endpoint) -> bytes:
    """The stored form of an endpoint."""
    data = {
        "service": endpoint.service,
        "namespace": endpoint.namespace,
        "workload": endpoint.workload,
        "address": endpoint.address,
        "ports": {str(k): v for k, v in sorted(endpoint.ports.items())},
        "labels": dict(endpoint.labels),
        "serviceAccount": endpoint.service_account,
        "network": endpoint.network,
        "locality": [endpoint.locality.region, endpoint.locality.zone,
                     endpoint.locality.sub_zone],
        "weight": endpoint.weight,
        "health": endpoint.health.value,
        "source": endpoint.source,
    }  # fmt: skip
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def decode_endpoint(value: bytes) -> Endpoint:
    """An endpoint from its stored form (``ValueError``/``KeyError`` if it is not one)."""
    data: dict[str, Any] = json.loads(value)
    region, zone, sub_zone = [*data.get("locality", []), "", "", ""][:3]
    return Endpoint(
        service=data["service"],
        namespace=data["namespace"],
        workload=data["workload"],
        address=data["address"],
        ports={int(k): int(v) for k, v in data.get("ports", {}).items()},
        labels=frozen_map(data.get("labels")),
        service_account=data.get("serviceAccount", "default"),
        network=data.get("network", ""),
        locality=Locality(region, zone, sub_zone),
        weight=int(data.get("weight", 1)),
        health=Health(data.get("health", "HEALTHY")),
        source=data.get("source", ""),
    )
