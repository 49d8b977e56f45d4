"""What one proxy sees of the mesh, and the keys that name what it sees.

A :class:`ProxyView` answers the questions every generator asks about one proxy class:
which services it may reach (exportTo, the Sidecar's egress hosts), which DestinationRule and
VirtualService apply to each host (visibility and Istio's precedence), whether unknown hosts
pass through, and which label selectors match it. It also computes the *scopes* that go into
set ids: short hashes of exactly the proxy inputs that can change a set's content, so that
classes that would produce equal sets produce equal set ids.

Scope rules (each one is a reason two classes could otherwise see different content):

- the proxy's namespace matters only when visibility depends on it: some service,
  DestinationRule or VirtualService is not exported to every namespace, some host has
  DestinationRules in more than one namespace (precedence then depends on the client's
  namespace), or a Sidecar applies to the proxy (its ``.`` means the proxy's namespace);
- the Sidecar that applies (by identity: its content is config, read by the generators);
- which workload-selected DestinationRules, and which VirtualService ``sourceLabels``
  matches (route scope only), select the proxy (by identity, not the proxy's labels, so
  workloads that differ in unrelated labels still share).

:class:`MeshIndex` holds what does not depend on the proxy, computed once per
(config, registry) pair.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from mizzen.api import DestinationRule, Sidecar, VirtualService
from mizzen.api.resource import age_order
from mizzen.registry import Locality, Registry, Resolution, Service
from mizzen.snapshots import InboundPort, Interception, ProxyClass
from mizzen.translator.domain.generators.locality import Place
from mizzen.translator.domain.generators.model import short_hash
from mizzen.translator.domain.generators.values import labels_match
from mizzen.translator.domain.generators.vhosts import VirtualHostCache
from mizzen.translator.domain.mesh_config import MeshConfig, namespace_of, resource_id

__all__ = [
    "MeshIndex",
    "ProxyView",
    "exported_to",
    "gateway_key",
    "gateway_listed",
    "host_covers",
    "merge_destination_rules",
]

MESH_GATEWAY = "mesh"
"""The reserved gateway name meaning "every sidecar"."""


def exported_to(export_to: Sequence[str] | None, owner_namespace: str, namespace: str) -> bool:
    """Istio's exportTo: empty or ``*`` everywhere, ``.`` the owner's namespace, ``~``
    nowhere, otherwise the namespaces listed."""
    if not export_to:
        return True
    return any(
        scope in ("*", namespace) or (scope == "." and namespace == owner_namespace)
        for scope in export_to
    )


def _is_public(export_to: Sequence[str] | None) -> bool:
    return not export_to or "*" in export_to


def host_covers(pattern: str, host: str) -> bool:
    """Whether the host pattern ``pattern`` (``*``, ``*.example.com`` or a name) covers
    ``host``."""
    if pattern in ("*", host):
        return True
    suffix = pattern[1:]
    return pattern.startswith("*") and host.endswith(suffix) and len(host) > len(suffix)


def gateway_key(reference: str, namespace: str) -> str:
    """The gateway a reference written in a resource of ``namespace`` names, as
    ``<namespace>/<name>``: ``ns/name`` is explicit, a bare ``name`` is in ``namespace``, the
    legacy ``name.ns[.svc.<suffix>]`` form is read as Istio reads it; ``mesh`` stays ``mesh``."""
    if reference == MESH_GATEWAY:
        return reference
    if "/" in reference:
        scope, _, name = reference.partition("/")
        return f"{namespace if scope == '.' else scope}/{name}"
    if "." in reference:
        name, _, rest = reference.partition(".")
        return f"{rest.partition('.')[0]}/{name}"
    return f"{namespace}/{reference}"


def gateway_listed(references: Sequence[str] | None, namespace: str, gateway: str) -> bool:
    """Whether ``references`` (written in a resource of ``namespace``) name ``gateway``
    (``mesh``, or a Gateway as ``<namespace>/<name>``)."""
    return any(gateway_key(reference, namespace) == gateway for reference in references or ())


def _policies(rule: DestinationRule) -> Iterator[Any]:
    """Every traffic policy in ``rule``: top level, port level, subsets and theirs."""
    for policy in (rule.spec.traffic_policy, *(s.traffic_policy for s in rule.spec.subsets or ())):
        if policy is not None:
            yield policy
            yield from policy.port_level_settings or ()


def _merge_group(config: MeshConfig, dr: DestinationRule) -> tuple[Any, ...]:
    """What DestinationRules must share to be merged: namespace, resolved host, workload
    selector and ``exportTo``."""
    selector = dr.spec.workload_selector
    return (
        namespace_of(dr),
        config.resolve(dr.spec.host, dr),
        tuple(sorted((selector.match_labels or {}).items())) if selector else None,
        frozenset(dr.spec.export_to or ("*",)),
    )


def merge_destination_rules(rules: Sequence[DestinationRule]) -> DestinationRule:
    """Istio's merge of several DestinationRules for one host (oldest first): the first
    rule, with the subsets of the later ones whose names it does not have yet appended, and
    the first top-level ``trafficPolicy`` any of them sets. One rule is returned as it is."""
    first = rules[0]
    if len(rules) == 1:
        return first
    subsets = list(first.spec.subsets or ())
    names = {s.name for s in subsets}
    policy = first.spec.traffic_policy
    for later in rules[1:]:
        for subset in later.spec.subsets or ():
            if subset.name not in names:
                names.add(subset.name)
                subsets.append(subset)
        policy = policy or later.spec.traffic_policy
    update = {"subsets": subsets or None, "traffic_policy": policy}
    spec = first.spec.model_copy(update={k: v for k, v in update.items() if v is not None})
    return first.model_copy(update={"spec": spec})


def applies_to_sidecars(vs: VirtualService) -> bool:
    """A VirtualService with no ``gateways`` or with ``mesh`` among them routes sidecars."""
    gateways = vs.spec.gateways
    return not gateways or MESH_GATEWAY in gateways


@dataclass(frozen=True, eq=False)
class MeshIndex:
    """The proxy-independent facts about one (config, registry) pair. Immutable."""

    config: MeshConfig
    registry: Registry
    vhosts: VirtualHostCache = field(default_factory=VirtualHostCache)
    """Virtual hosts reusable from the previous translation (see :mod:`.vhosts`)."""

    @cached_property
    def services(self) -> tuple[Service, ...]:
        """Every registry service with at least one port, by hostname."""
        return tuple(s for _, s in sorted(self.registry.services.items()) if s.ports)

    @cached_property
    def source_selectors(self) -> tuple[tuple[str, Mapping[str, str]], ...]:
        """Every ``sourceLabels`` of a VirtualService route match, as ``(<VirtualService
        id>/<path>, labels)`` in config order (few meshes have many: computed once, not per
        proxy class)."""
        found: list[tuple[str, Mapping[str, str]]] = []
        for vs in self.config.virtual_services:
            found += [
                (f"{resource_id(vs)}/http[{i}].match[{j}]", m.source_labels)
                for i, route in enumerate(vs.spec.http or ())
                for j, m in enumerate(route.match or ())
                if m.source_labels
            ]
            found += [
                (f"{resource_id(vs)}/tcp[{i}].match[{j}]", m.source_labels)
                for i, tcp in enumerate(vs.spec.tcp or ())
                for j, m in enumerate(tcp.match or ())
                if m.source_labels
            ]
        return tuple(found)

    @cached_property
    def locality_keys(self) -> tuple[str, ...] | None:
        """What of a proxy's place its endpoints can depend on: ``None`` when no
        DestinationRule asks for locality-aware balancing (no outlier detection, no
        ``distribute`` anywhere), else the labels its ``failoverPriority`` lists name (the
        locality and network always count)."""
        sensitive = False
        keys: set[str] = set()
        for rule in self.config.destination_rules:
            for policy in _policies(rule):
                balancer = policy.load_balancer
                setting = balancer.locality_lb_setting if balancer is not None else None
                if policy.outlier_detection is not None or (setting and setting.distribute):
                    sensitive = True
                keys.update((setting.failover_priority or ()) if setting else ())
        return tuple(sorted(keys)) if sensitive else None

    @cached_property
    def namespace_sensitive(self) -> bool:
        """Whether what a proxy sees can depend on its namespace (see the module docstring)."""
        if any(not _is_public(s.export_to) for s in self.services):
            return True
        if any(not _is_public(d.spec.export_to) for d in self.config.destination_rules):
            return True
        if any(not _is_public(v.spec.export_to) for v in self.config.virtual_services):
            return True
        for service in self.services:
            namespaces = {
                namespace_of(d) for d in self.config.destination_rules_for(service.hostname)
            }
            if len(namespaces) > 1:
                return True
        return False


@dataclass(frozen=True, eq=False)
class ProxyView:
    """One proxy class's view of the mesh. Immutable; cached properties are pure."""

    index: MeshIndex
    proxy: ProxyClass
    _dr_cache: dict[str, DestinationRule | None] = field(default_factory=dict, repr=False)
    _vs_cache: dict[str, VirtualService | None] = field(default_factory=dict, repr=False)

    @property
    def config(self) -> MeshConfig:
        """The mesh config."""
        return self.index.config

    @property
    def registry(self) -> Registry:
        """The registry."""
        return self.index.registry

    @cached_property
    def inbound(self) -> tuple[InboundPort, ...]:
        """The ports the proxy's workload serves, sorted (a class's id sorts them too)."""
        return tuple(sorted(self.proxy.inbound))

    @property
    def local_mode(self) -> bool:
        """Mizzen's local interception (own loopback address, explicit HTTP proxy)."""
        return self.proxy.interception is Interception.NONE

    @property
    def mode(self) -> str:
        """``local`` or ``capture``: the part of set ids that depends on interception."""
        return "local" if self.local_mode else "capture"

    # ---- Sidecar -------------------------------------------------------------------------

    @cached_property
    def sidecar(self) -> Sidecar | None:
        """The Sidecar that applies: one in the proxy's namespace selecting its labels, else
        one there without a selector, else the root namespace's without a selector."""
        own = self.config.sidecars_in(self.proxy.namespace)
        for sidecar in own:
            selector = sidecar.spec.workload_selector
            if selector and selector.labels and labels_match(selector.labels, self.proxy.labels):
                return sidecar
        for sidecar in own:
            if not (sidecar.spec.workload_selector and sidecar.spec.workload_selector.labels):
                return sidecar
        for sidecar in self.config.sidecars_in(self.config.root_namespace):
            if not (sidecar.spec.workload_selector and sidecar.spec.workload_selector.labels):
                return sidecar
        return None

    def egress_allows(self, namespace: str, hostname: str) -> bool:
        """Whether the Sidecar's egress hosts admit ``hostname`` defined in ``namespace``
        (always, without a Sidecar or without egress listeners)."""
        sidecar = self.sidecar
        if sidecar is None or not sidecar.spec.egress:
            return True
        for listener in sidecar.spec.egress:
            for entry in listener.hosts:
                scope, _, host = entry.partition("/")
                if scope == "~":
                    continue
                if scope == "." and namespace != self.proxy.namespace:
                    continue
                if scope not in ("*", ".") and scope != namespace:
                    continue
                if host_covers(host.lower(), hostname):
                    return True
        return False

    @property
    def allow_any(self) -> bool:
        """Istio's outbound traffic policy: unknown hosts pass through (ALLOW_ANY, the
        default) unless the Sidecar says REGISTRY_ONLY."""
        sidecar = self.sidecar
        policy = sidecar.spec.outbound_traffic_policy if sidecar else None
        return policy is None or policy.mode != "REGISTRY_ONLY"

    # ---- services ------------------------------------------------------------------------

    @cached_property
    def services(self) -> tuple[Service, ...]:
        """The services this proxy may reach, by hostname."""
        return tuple(
            s
            for s in self.index.services
            if s.visible_from(self.proxy.namespace) and self.egress_allows(s.namespace, s.hostname)
        )

    @cached_property
    def services_by_host(self) -> Mapping[str, Service]:
        """:attr:`services` by hostname."""
        return {s.hostname: s for s in self.services}

    def routes_through_passthrough(self, service: Service) -> bool:
        """In local mode a service without endpoints of its own (resolution NONE) is reached
        like an unknown host: through ``PassthroughCluster`` (an ORIGINAL_DST cluster would
        send the request back to the proxy listener it arrived on)."""
        return self.local_mode and service.resolution is Resolution.NONE

    # ---- DestinationRule / VirtualService selection --------------------------------------

    def _dr_applies(self, dr: DestinationRule) -> bool:
        if not exported_to(dr.spec.export_to, namespace_of(dr), self.proxy.namespace):
            return False
        selector = dr.spec.workload_selector
        if selector is not None and selector.match_labels:
            return namespace_of(dr) == self.proxy.namespace and labels_match(
                selector.match_labels, self.proxy.labels
            )
        return True

    def _precedence(self, namespace: str, service_namespace: str) -> int:
        if namespace == self.proxy.namespace:
            return 0
        if namespace == service_namespace:
            return 1
        if namespace == self.config.root_namespace:
            return 2
        return 3

    def destination_rule(self, hostname: str) -> DestinationRule | None:
        """The DestinationRule for ``hostname``: among those visible and selecting this proxy,
        the client's namespace first, then the service's, then the root namespace; within
        one, workload-selected first, then exact hosts before wildcards, then the oldest.

        Several rules for the same host in one namespace with the same workload selector and
        the same ``exportTo`` are merged as Istio merges them (:func:`merge_destination_rules`):
        so a host's subsets may be split across resources."""
        if hostname in self._dr_cache:
            return self._dr_cache[hostname]
        service = self.services_by_host.get(hostname)
        service_ns = service.namespace if service else ""
        candidates = self.config.destination_rules_for(hostname)
        specificity = {host: i for i, host in enumerate(dict.fromkeys(
            self.config.resolve(d.spec.host, d) for d in candidates))}  # fmt: skip

        def rank(dr: DestinationRule) -> tuple[Any, ...]:
            return (
                self._precedence(namespace_of(dr), service_ns),
                0 if dr.spec.workload_selector else 1,
                specificity[self.config.resolve(dr.spec.host, dr)],
                age_order(dr),
            )

        ranked = sorted((d for d in candidates if self._dr_applies(d)), key=rank)
        chosen = None
        if ranked:
            group = _merge_group(self.config, ranked[0])
            chosen = merge_destination_rules(
                [d for d in ranked if _merge_group(self.config, d) == group]
            )
        self._dr_cache[hostname] = chosen
        return chosen

    def virtual_service(self, hostname: str) -> VirtualService | None:
        """The VirtualService routing ``hostname`` for sidecars: exact hosts before
        wildcards, then the client's namespace, the service's, the others by name. Istio
        merges nothing here either (it warns about conflicting VirtualServices)."""
        if hostname in self._vs_cache:
            return self._vs_cache[hostname]
        service = self.services_by_host.get(hostname)
        service_ns = service.namespace if service else ""
        candidates = [
            v
            for v in self.config.virtual_services_for(hostname)
            if applies_to_sidecars(v)
            and exported_to(v.spec.export_to, namespace_of(v), self.proxy.namespace)
            and self.egress_allows(namespace_of(v), hostname)
        ]
        ranked = sorted(
            enumerate(candidates),
            key=lambda item: (
                0 if hostname in {self.config.resolve(h, item[1]) for h in item[1].spec.hosts or ()}
                else 1,
                self._precedence(namespace_of(item[1]), service_ns),
                item[0],
            ),
        )  # fmt: skip
        chosen = ranked[0][1] if ranked else None
        self._vs_cache[hostname] = chosen
        return chosen

    def cached_virtual_host(self, hostname: str, port: int, build: Callable[[], Any]) -> Any:
        """The virtual host of ``hostname``:``port`` in this proxy's route configurations:
        ``build()``, or the same host from the previous translation when nothing it depends
        on changed (see :mod:`.vhosts`). The result must not be modified."""
        virtual_service = self.virtual_service(hostname)
        if virtual_service is not None and any(r.delegate for r in virtual_service.spec.http or ()):
            return build()  # its delegates can change while it does not: never reused
        key = (self.mode, self.proxy.namespace, self.route_scope, hostname, port)
        return self.index.vhosts.virtual_host(key, virtual_service, build)

    def source_matches(self, labels: Mapping[str, str] | None, namespace: str | None) -> bool:
        """Whether a route match's ``sourceLabels`` / ``sourceNamespace`` select this proxy
        (decided here, at generation time, as Istio does)."""
        if namespace and namespace != self.proxy.namespace:
            return False
        return labels_match(labels, self.proxy.labels)

    # ---- scopes --------------------------------------------------------------------------

    @cached_property
    def _namespace_key(self) -> str:
        if self.index.namespace_sensitive or self.sidecar is not None:
            return self.proxy.namespace
        return "*"

    @cached_property
    def _selected_rules(self) -> list[str]:
        return sorted(
            resource_id(d)
            for d in self.config.destination_rules
            if d.spec.workload_selector and d.spec.workload_selector.match_labels
            and self._dr_applies(d)
        )  # fmt: skip

    @cached_property
    def _matched_sources(self) -> list[str]:
        return [
            path
            for path, labels in self.index.source_selectors
            if labels_match(labels, self.proxy.labels)
        ]

    def _scope_inputs(self) -> dict[str, Any]:
        sidecar = self.sidecar
        return {
            "namespace": self._namespace_key,
            "sidecar": resource_id(sidecar) if sidecar else "",
            "rules": self._selected_rules,
        }

    @cached_property
    def outbound_scope(self) -> str:
        """Names the inputs of outbound clusters and endpoints (see the module docstring)."""
        return short_hash(self._scope_inputs())

    @cached_property
    def place(self) -> Place:
        """Where this proxy runs (for locality-aware load balancing)."""
        proxy = self.proxy
        return Place(Locality.parse(proxy.locality), proxy.network, proxy.labels)

    @cached_property
    def endpoint_scope(self) -> str:
        """``-<hash>`` of what of the proxy's place its endpoints depend on (see
        :attr:`MeshIndex.locality_keys`), ``""`` when they do not."""
        keys = self.index.locality_keys
        if keys is None:
            return ""
        place = self.place
        return "-" + short_hash({"locality": str(place.locality), "network": place.network,
                                 "labels": {k: place.label(k) for k in keys}})  # fmt: skip

    @cached_property
    def route_scope(self) -> str:
        """Names the inputs of route configurations beyond the proxy's namespace and mode:
        the outbound scope plus the ``sourceLabels`` matches that select this proxy."""
        return short_hash({**self._scope_inputs(), "sources": self._matched_sources})
