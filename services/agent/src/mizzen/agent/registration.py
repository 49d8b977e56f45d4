"""What is the agent's own in registering the workload with discovery: its Workload message,
and the registration client's failures as the agent's :class:`RegistrationError`.

The client itself (streams, heartbeats, health changes, failover across replicas, the
first-registration deadline) is :mod:`mizzen.registration`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from mizzen.agent.domain.workload import WorkloadSpec
from mizzen.agent.errors import AgentError, RegistrationError
from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.registration import DiscoveryUnreachable, Registrar
from mizzen.registration import RegistrationError as ClientError
from mizzen.registry import Protocol

__all__ = ["raise_for_registration", "workload_message"]

DEREGISTER_TIMEOUT = 5.0
"""How long a stopping agent waits for discovery to confirm a deregistration."""
DISCOVERY_HINT = "is discovery running? Point at it with --discovery HOST:PORT"
"""Appended to the message when no discovery replica answered."""


def served_service(name: str, ports: Iterable[tuple[int, int, Protocol]]) -> pb.ServedService:
    """A served service: ``name`` with each ``(service port, endpoint port, protocol)``."""
    return pb.ServedService(
        service=name,
        ports=[pb.ServedPort(number=number, endpoint_port=endpoint, protocol=protocol.value)
               for number, endpoint, protocol in ports],
    )  # fmt: skip


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
            served_service(service.name, [(p.port, p.port, p.protocol) for p in service.ports])
            for service in spec.services
        ],
        health=health,
        locality=pb.Locality(
            region=spec.where.region, zone=spec.where.zone, sub_zone=spec.where.sub_zone
        ),
    )


async def registered_or_failed(registrar: Registrar, registration: asyncio.Task[None]) -> None:
    """Return once ``registrar`` is registered; raise :class:`RegistrationError` (or
    :class:`~mizzen.agent.errors.AgentError`) when its ``registration`` task ends first."""
    registered = asyncio.ensure_future(registrar.registered.wait())
    try:
        await asyncio.wait({registered, registration}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        registered.cancel()
    if registration.done():
        raise_for_registration(registration)  # RegistrationError
        raise AgentError("registration ended before the workload was registered")


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
