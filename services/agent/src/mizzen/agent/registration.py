"""What is the agent's own in registering the workload with discovery: its Workload message,
and the registration client's failures as the agent's :class:`RegistrationError`.

The client itself (streams, heartbeats, health changes, failover across replicas, the
first-registration deadline) is :mod:`mizzen.registration`.
"""

from __future__ import annotations

import asyncio

from mizzen.agent.domain.workload import WorkloadSpec
from mizzen.agent.errors import RegistrationError
from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.registration import DiscoveryUnreachable
from mizzen.registration import RegistrationError as ClientError

__all__ = ["raise_for_registration", "workload_message"]

DISCOVERY_HINT = "is discovery running? Point at it with --discovery HOST:PORT"
"""Appended to the message when no discovery replica answered."""


def workload_message(spec: WorkloadSpec, address: str, health: pb.Health.ValueType) -> pb.Workload:
    """The Workload message for ``spec`` at ``address``: every service with its ports, each
    service port received on the same port of the workload's address (its Envoy's inbound
    listener), with ``health``."""
    return pb.Workload(
        name=spec.name,
        namespace=spec.namespace,
        address=address,
        labels=dict(spec.labels),
        service_account=spec.service_account,
        services=[
            pb.ServedService(
                service=service.name,
                ports=[
                    pb.ServedPort(
                        number=port.port, endpoint_port=port.port, protocol=port.protocol.value
                    )
                    for port in service.ports
                ],
            )
            for service in spec.services
        ],
        health=health,
        locality=pb.Locality(
            region=spec.where.region, zone=spec.where.zone, sub_zone=spec.where.sub_zone
        ),
    )


def raise_for_registration(task: asyncio.Task[None]) -> None:
    """Return if the ended registration ``task`` (:meth:`Registrar.start`'s) ended cleanly;
    raise its failure as :class:`RegistrationError` (an :class:`~mizzen.agent.errors.AgentError`,
    which ``mizzen workload run`` prints) otherwise. ``task`` must be done."""
    try:
        task.result()
    except DiscoveryUnreachable as exc:
        raise RegistrationError(f"{exc}; {DISCOVERY_HINT}") from exc
    except ClientError as exc:
        raise RegistrationError(str(exc)) from exc
