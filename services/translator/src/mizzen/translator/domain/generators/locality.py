"""Locality-aware load balancing: how one proxy's endpoints of a cluster are grouped into
priorities and weighted, from the DestinationRule's ``loadBalancer.localityLbSetting`` and
where the proxy runs, as Istio does it.

- ``distribute``: the first entry whose ``from`` matches the proxy's locality decides; each
  ``to`` locality pattern gets its percentage of the traffic, split among the endpoint
  groups it matches by their weights (rounded up); groups no pattern matches get nothing
  (they are left out). The cluster gets Envoy's locality-weighted load balancing.
- failover (the default once the cluster has outlier detection, without which Envoy would
  never leave a priority; ``enabled: false`` turns it off): endpoints in the proxy's region,
  zone and sub-zone are priority 0, same region and zone 1, same region 2, others 3; with
  ``failover`` entries, a proxy in region ``from`` keeps region ``to`` at 3 and sends every
  other region further down. With ``failoverPriority`` (a list of labels) an endpoint's
  priority counts the leading labels whose value differs from the proxy's instead;
  ``topology.kubernetes.io/region``, ``topology.kubernetes.io/zone``,
  ``topology.istio.io/subzone`` and ``topology.istio.io/network`` are read from localities
  and networks. Priorities are then renumbered 0, 1, 2... without gaps, as Envoy requires.

Locality patterns are ``region/zone/sub_zone`` where ``*`` matches anything from that
part on. DNS clusters get the same priorities and weights in their inline endpoints; not done
for proxyless clients.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mizzen.api.networking.traffic_policy import LocalityLoadBalancerSetting
from mizzen.registry import Endpoint, Locality
from mizzen.translator.domain.generators.policy import ClusterPolicy

__all__ = [
    "EndpointGroup",
    "LocalityBalancing",
    "Place",
    "balancing_for",
    "group_endpoints",
    "locality_matches",
]

_TOPOLOGY: dict[str, Callable[[Locality, str], str]] = {
    "topology.kubernetes.io/region": lambda locality, network: locality.region,
    "topology.kubernetes.io/zone": lambda locality, network: locality.zone,
    "topology.istio.io/subzone": lambda locality, network: locality.sub_zone,
    "topology.istio.io/network": lambda locality, network: network,
}


@dataclass(frozen=True, slots=True)
class Place:
    """Where a proxy or an endpoint is: its locality, network and labels."""

    locality: Locality
    network: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    def label(self, key: str) -> str | None:
        """The value of ``key``: a topology label from the locality or network, else the
        label itself."""
        topology = _TOPOLOGY.get(key)
        if topology is not None:
            return topology(self.locality, self.network)
        return self.labels.get(key)


@dataclass(frozen=True, slots=True)
class LocalityBalancing:
    """What decides one cluster's endpoint groups for one proxy."""

    proxy: Place
    setting: LocalityLoadBalancerSetting | None
    failover: bool
    """Whether failover applies (the cluster has outlier detection)."""

    @property
    def distribute(self) -> Mapping[str, int] | None:
        """The ``to`` shares of the first ``distribute`` entry matching the proxy."""
        for entry in (self.setting.distribute if self.setting else None) or ():
            if entry.from_ and locality_matches(self.proxy.locality, entry.from_):
                return entry.to or {}
        return None


@dataclass
class EndpointGroup:
    """Endpoints of one locality at one priority, with the group's weight."""

    locality: Locality
    priority: int
    members: list[tuple[Endpoint, int]]
    weight: int


def balancing_for(policy: ClusterPolicy, proxy: Place) -> LocalityBalancing | None:
    """The locality balancing of a cluster under ``policy`` for a proxy at ``proxy``, or
    ``None`` when its endpoints do not depend on where the proxy is."""
    balancer = policy.load_balancer
    setting = balancer.locality_lb_setting if balancer is not None else None
    if setting is not None and setting.enabled is False:
        return None
    balancing = LocalityBalancing(proxy, setting, failover=policy.outlier_detection is not None)
    if setting is not None and setting.distribute:
        return balancing
    return balancing if balancing.failover else None


def locality_matches(locality: Locality, pattern: str) -> bool:
    """Whether ``locality`` matches ``region[/zone[/sub_zone]]``, ``*`` matching the rest."""
    parts = (locality.region, locality.zone, locality.sub_zone)
    for have, want in zip(parts, pattern.split("/", 2), strict=False):
        if want == "*":
            return True
        if have != want:
            return False
    return True


def _proximity(proxy: Locality, endpoint: Locality) -> int:
    if proxy.region != endpoint.region:
        return 3
    if proxy.zone != endpoint.zone:
        return 2
    return 0 if proxy.sub_zone == endpoint.sub_zone else 1


def _priority(balancing: LocalityBalancing, endpoint: Endpoint) -> int:
    setting = balancing.setting
    labels = setting.failover_priority if setting else None
    if labels:
        place = Place(endpoint.locality, endpoint.network, endpoint.labels)
        for i, key in enumerate(labels):
            if place.label(key) != balancing.proxy.label(key):
                return len(labels) - i
        return 0
    priority = _proximity(balancing.proxy.locality, endpoint.locality)
    if priority == 3:
        for rule in (setting.failover if setting else None) or ():
            if rule.from_ == balancing.proxy.locality.region:
                return 3 if endpoint.locality.region == rule.to else 4
    return priority


def _weight(members: Sequence[tuple[Endpoint, int]]) -> int:
    return sum(max(1, e.weight) for e, _ in members)


def group_endpoints(
    endpoints: Iterable[tuple[Endpoint, int]], balancing: LocalityBalancing | None
) -> list[EndpointGroup]:
    """``endpoints`` (each with its port) grouped by locality (and priority), sorted, each
    with its weight: plain groups at priority 0 without ``balancing``."""
    keyed: dict[tuple[int, Locality], list[tuple[Endpoint, int]]] = {}
    distribute = balancing.distribute if balancing is not None else None
    for endpoint, port in endpoints:
        priority = 0
        if balancing is not None and distribute is None:
            priority = _priority(balancing, endpoint)
        keyed.setdefault((priority, endpoint.locality), []).append((endpoint, port))
    order = sorted(keyed, key=lambda k: (k[0], k[1].region, k[1].zone, k[1].sub_zone))
    groups = [EndpointGroup(loc, prio, keyed[(prio, loc)], _weight(keyed[(prio, loc)]))
              for prio, loc in order]  # fmt: skip
    if distribute is not None:
        return _distributed(groups, distribute)
    renumbered = {p: i for i, p in enumerate(sorted({g.priority for g in groups}))}
    for group in groups:
        group.priority = renumbered[group.priority]
    return groups


def _distributed(groups: list[EndpointGroup], shares: Mapping[str, int]) -> list[EndpointGroup]:
    claimed: set[int] = set()  # a group belongs to the first pattern that matches it
    kept: dict[int, EndpointGroup] = {}
    for pattern, share in shares.items():
        matched = [
            (i, g)
            for i, g in enumerate(groups)
            if i not in claimed and locality_matches(g.locality, pattern)
        ]
        claimed.update(i for i, _ in matched)
        total = sum(g.weight for _, g in matched)
        for i, group in matched:
            weight = math.ceil(group.weight * share / total) if total else 0
            if weight > 0:
                group.weight = weight
                kept[i] = group
    return [kept[i] for i in sorted(kept)]
