"""Discovery's own Prometheus metrics (registered on the runtime's registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class DiscoveryMetrics:
    """The metrics discovery records; one instance per registry (names must be unique)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registrations = Gauge(
            "mizzen_discovery_registrations",
            "Workload registrations held by this replica.",
            registry=registry,
        )
        self.registrations_ended = Counter(
            "mizzen_discovery_registrations_ended_total",
            "Registrations that ended, by reason (deregistered, stream_closed, "
            "heartbeat_missed, lease_lost, replica_stopping, error).",
            ["reason"],
            registry=registry,
        )
        self.reconcile_writes = Counter(
            "mizzen_discovery_reconcile_writes_total",
            "Registry keys written by the reconciliation of declarative sources.",
            ["source", "operation"],
            registry=registry,
        )
        self.leader = Gauge(
            "mizzen_discovery_leader",
            "1 while this replica reconciles the declarative sources, else 0.",
            registry=registry,
        )
