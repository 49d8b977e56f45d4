"""Domain values ↔ the ``mizzen.registry.v1`` messages."""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf import duration_pb2

from mizzen.discovery.domain.listing import ServiceListing, WorkloadListing
from mizzen.discovery.domain.workload import (
    PortSpec,
    RegisteredWorkload,
    ServedServiceSpec,
    WorkloadSpec,
)
from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.registry import Health, Locality, Protocol, Service, frozen_map

_HEALTH_FROM_PB = {
    pb.HEALTH_HEALTHY: Health.HEALTHY,
    pb.HEALTH_UNHEALTHY: Health.UNHEALTHY,
    pb.HEALTH_DRAINING: Health.DRAINING,
}
_HEALTH_TO_PB = {value: key for key, value in _HEALTH_FROM_PB.items()}


def health_from_pb(value: pb.Health.ValueType) -> Health | None:
    """The health a message names; ``None`` for UNSPECIFIED (or an unknown value)."""
    return _HEALTH_FROM_PB.get(value)


def health_to_pb(health: Health) -> pb.Health.ValueType:
    """A health as its enum value."""
    return _HEALTH_TO_PB[health]


def workload_spec(message: pb.Workload) -> WorkloadSpec:
    """A registration as sent, ready for :func:`.domain.workload.validate_workload`."""
    return WorkloadSpec(
        name=message.name,
        namespace=message.namespace,
        address=message.address,
        services=tuple(
            ServedServiceSpec(
                service=served.service,
                ports=tuple(
                    PortSpec(p.number, p.endpoint_port, p.protocol, p.name) for p in served.ports
                ),
            )
            for served in message.services
        ),
        labels=frozen_map(message.labels),
        service_account=message.service_account,
        network=message.network,
        locality=Locality(
            message.locality.region, message.locality.zone, message.locality.sub_zone
        ),
        weight=message.weight,
        health=health_from_pb(message.health),
    )


def seconds(value: float) -> duration_pb2.Duration:
    """A duration message of ``value`` seconds."""
    duration = duration_pb2.Duration()
    duration.FromMilliseconds(round(value * 1000))
    return duration


def registered(
    registration_id: str, workload: RegisteredWorkload, *, ttl: int, replica: str
) -> pb.RegisterResponse:
    """The first answer on a registration stream."""
    return pb.RegisterResponse(
        registered=pb.Registered(
            registration_id=registration_id,
            ttl=seconds(ttl),
            heartbeat_interval=seconds(ttl / 3),
            hostnames=list(workload.hostnames),
            replica=replica,
        )
    )


def workload_to_pb(
    listing: WorkloadListing, services: Mapping[str, Service]
) -> pb.WorkloadInstance:
    """A listed workload; port protocols and names come from the services when known."""
    first = listing.first
    served = []
    for endpoint in listing.endpoints:
        service = services.get(endpoint.service)
        ports = []
        for number, target in sorted(endpoint.ports.items()):
            port = service.port(number) if service is not None else None
            ports.append(
                pb.ServedPort(
                    number=number,
                    endpoint_port=target,
                    protocol=(port.protocol if port is not None else Protocol.UNKNOWN).value,
                    name=port.name if port is not None else "",
                )
            )
        served.append(pb.ServedService(service=endpoint.service, ports=ports))
    workload = pb.Workload(
        name=listing.name,
        namespace=listing.namespace,
        address=first.address,
        labels=dict(first.labels),
        service_account=first.service_account,
        network=first.network,
        locality=pb.Locality(
            region=first.locality.region, zone=first.locality.zone, sub_zone=first.locality.sub_zone
        ),
        services=served,
        weight=first.weight,
        health=health_to_pb(first.health),
    )
    return pb.WorkloadInstance(workload=workload, source=listing.source)


def service_to_pb(listing: ServiceListing) -> pb.ServiceInfo:
    """A listed service with its endpoint counts."""
    service = listing.service
    return pb.ServiceInfo(
        hostname=service.hostname,
        namespace=service.namespace,
        ports=[
            pb.ServicePort(number=p.number, protocol=p.protocol.value, name=p.name)
            for p in service.ports
        ],
        labels=dict(service.labels),
        addresses=list(service.addresses),
        resolution=service.resolution.value,
        mesh_external=service.mesh_external,
        export_to=list(service.export_to),
        source=service.source,
        endpoints=listing.endpoints,
        healthy_endpoints=listing.healthy,
    )
