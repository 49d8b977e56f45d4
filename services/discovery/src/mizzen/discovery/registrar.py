"""Agent registrations held in etcd, each under a lease of its own.

A registration's endpoints are written under its lease; its services (created or with ports
merged) are not, so a service outlives its last endpoint. The lease is refreshed by this
process for as long as the registration is held, which the API layer ties to the agent's
stream and heartbeats. Ending a registration revokes the lease (its endpoints vanish at once);
if this process dies nobody refreshes it and etcd expires it within its TTL.
"""

from __future__ import annotations

import asyncio

import structlog

from mizzen.discovery.domain.workload import RegisteredWorkload
from mizzen.discovery.metrics import DiscoveryMetrics
from mizzen.registry import Health, RegistryWriter
from mizzen.store import Lease, Store, StoreError

log = structlog.get_logger(__name__)


class Registration:
    """One registration held by this replica. Mutated only by its :class:`Registrar`."""

    def __init__(self, workload: RegisteredWorkload, lease: Lease) -> None:
        self.workload = workload
        """The registration as currently stored (health changes with heartbeats)."""
        self.lease = lease
        """The lease the endpoints are attached to."""

    @property
    def registration_id(self) -> str:
        """The lease id in hex: names the registration in logs."""
        return f"{self.lease.id:016x}"

    @property
    def lost(self) -> bool:
        """Whether the lease was lost (etcd unreachable for a whole TTL, or expired)."""
        return self.lease.lost

    async def wait_lost(self) -> None:
        """Return once the lease is lost (never, if the registration is released first)."""
        await self.lease.wait_lost()


class Registrar:
    """Creates, updates and ends registrations (see the module docstring).

    Safe for concurrent use from one event loop. ``ttl`` is the lease TTL in whole seconds.
    """

    def __init__(
        self,
        store: Store,
        writer: RegistryWriter,
        *,
        ttl: int,
        metrics: DiscoveryMetrics | None = None,
    ) -> None:
        self._store = store
        self._writer = writer
        self._ttl = ttl
        self._metrics = metrics
        self._held: set[Registration] = set()

    @property
    def ttl(self) -> int:
        """The TTL of new registration leases, in seconds."""
        return self._ttl

    @property
    def held(self) -> int:
        """How many registrations this replica holds."""
        return len(self._held)

    async def register(self, workload: RegisteredWorkload) -> Registration:
        """Grant a lease, merge the services and put the endpoints under it.

        Raises :class:`~mizzen.store.StoreError` (nothing is left behind: the lease is revoked)
        or :class:`~mizzen.registry.WriteConflict`.
        """
        lease = await self._store.grant(self._ttl)
        try:
            revision = await self._writer.register(
                workload.services, workload.endpoints, lease=lease
            )
        except BaseException:
            await asyncio.shield(_revoke(lease))
            raise
        registration = Registration(workload, lease)
        self._held.add(registration)
        self._count()
        log.info(
            "workload registered",
            registration=registration.registration_id,
            workload=f"{workload.namespace}/{workload.name}",
            address=workload.address,
            services=list(workload.hostnames),
            revision=revision,
        )
        return registration

    async def set_health(self, registration: Registration, health: Health) -> None:
        """Rewrite the endpoints with ``health`` if it changed (under the same lease).

        Raises :class:`~mizzen.store.LeaseExpired` if the lease is gone.
        """
        if health is registration.workload.health:
            return
        workload = registration.workload.with_health(health)
        await self._writer.put_endpoints(workload.endpoints, lease=registration.lease)
        registration.workload = workload
        log.info(
            "workload health changed",
            registration=registration.registration_id,
            workload=f"{workload.namespace}/{workload.name}",
            health=health.value,
        )

    async def release(self, registration: Registration, *, reason: str) -> None:
        """End the registration and revoke its lease, deleting its endpoints now.

        Idempotent. If etcd cannot be reached the endpoints go when the lease expires (nobody
        refreshes it any more); that is logged, not raised.
        """
        if registration not in self._held:
            return
        self._held.discard(registration)
        self._ended(registration, reason)
        await _revoke(registration.lease)

    async def abandon(self, registration: Registration, *, reason: str) -> None:
        """End the registration without revoking: stop refreshing its lease, so its endpoints
        stay until the TTL lapses (the agent re-registers elsewhere meanwhile)."""
        if registration not in self._held:
            return
        self._held.discard(registration)
        self._ended(registration, reason)
        await registration.lease.abandon(reason)

    async def close(self) -> None:
        """Abandon every registration still held (replica shutting down)."""
        for registration in list(self._held):
            await self.abandon(registration, reason="replica_stopping")

    def _ended(self, registration: Registration, reason: str) -> None:
        workload = registration.workload
        log.info(
            "workload registration ended",
            registration=registration.registration_id,
            workload=f"{workload.namespace}/{workload.name}",
            reason=reason,
        )
        if self._metrics is not None:
            self._metrics.registrations_ended.labels(reason=reason).inc()
        self._count()

    def _count(self) -> None:
        if self._metrics is not None:
            self._metrics.registrations.set(len(self._held))


async def _revoke(lease: Lease) -> None:
    """Revoke ``lease``; a store failure is logged (the lease then expires within its TTL)."""
    try:
        await lease.revoke()
    except StoreError as exc:
        log.warning("registration lease revoke failed", lease=f"{lease.id:016x}", error=str(exc))
