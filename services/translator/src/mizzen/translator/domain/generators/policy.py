"""The traffic policy that applies to one cluster, merged as Istio merges it.

A DestinationRule's top-level ``trafficPolicy`` applies to every port of the host; a
``portLevelSettings`` entry for the cluster's port *replaces* its load balancer, connection
pool, outlier detection and TLS settings (port-level settings do not inherit). A subset's
policy overrides the result field by field (each field as a whole), and the subset's own
port-level settings replace those four again. ``proxyProtocol`` and ``retryBudget`` have no
port-level form: the subset's replaces the top level's. This is Istio's
``MergeTrafficPolicy``.
"""

from __future__ import annotations

from dataclasses import dataclass

from mizzen.api import DestinationRule
from mizzen.api.networking.destination_rule import Subset
from mizzen.api.networking.traffic_policy import (
    ClientTLSSettings,
    ConnectionPoolSettings,
    LoadBalancerSettings,
    OutlierDetection,
    ProxyProtocol,
    RetryBudget,
    TrafficPolicy,
)

__all__ = ["ClusterPolicy", "cluster_policy", "find_subset"]


@dataclass(frozen=True, slots=True)
class ClusterPolicy:
    """The settings a cluster takes from a DestinationRule (``None``: Istio's default)."""

    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None
    proxy_protocol: ProxyProtocol | None = None
    retry_budget: RetryBudget | None = None


def _with_port(policy: ClusterPolicy, source: TrafficPolicy, port: int) -> ClusterPolicy:
    for settings in source.port_level_settings or ():
        if settings.port is not None and settings.port.number == port:
            return ClusterPolicy(
                load_balancer=settings.load_balancer,
                connection_pool=settings.connection_pool,
                outlier_detection=settings.outlier_detection,
                tls=settings.tls,
                proxy_protocol=policy.proxy_protocol,
                retry_budget=policy.retry_budget,
            )
    return policy


def _override(base: ClusterPolicy, policy: TrafficPolicy) -> ClusterPolicy:
    return ClusterPolicy(
        load_balancer=policy.load_balancer or base.load_balancer,
        connection_pool=policy.connection_pool or base.connection_pool,
        outlier_detection=policy.outlier_detection or base.outlier_detection,
        tls=policy.tls or base.tls,
        proxy_protocol=policy.proxy_protocol or base.proxy_protocol,
        retry_budget=policy.retry_budget or base.retry_budget,
    )


def find_subset(rule: DestinationRule | None, name: str) -> Subset | None:
    """The subset called ``name`` in ``rule``, if any."""
    if rule is None:
        return None
    return next((s for s in rule.spec.subsets or () if s.name == name), None)


def cluster_policy(rule: DestinationRule | None, port: int, subset: str = "") -> ClusterPolicy:
    """The merged policy of the cluster for ``port`` (and ``subset``) under ``rule``."""
    merged = ClusterPolicy()
    if rule is None:
        return merged
    top = rule.spec.traffic_policy
    if top is not None:
        merged = _with_port(_override(merged, top), top, port)
    chosen = find_subset(rule, subset) if subset else None
    if chosen is not None and chosen.traffic_policy is not None:
        merged = _with_port(_override(merged, chosen.traffic_policy), chosen.traffic_policy, port)
    return merged
