"""An immutable index of the Istio config that translation reads.

:class:`MeshConfig` holds the networking kinds the generators use (VirtualService,
DestinationRule, ServiceEntry, Sidecar, Gateway), sorted by namespace and name so that equal
configs give equal output whatever order they were listed in, and indexed by namespace and
by host. Hosts are indexed *resolved*: a short name in a resource (``reviews``) means
``reviews.<resource namespace>.svc.<dns suffix>``, as Istio resolves it; names with a dot and
wildcards (``*.example.com``) are kept as written (lower case).

Services themselves come from the registry (discovery turns ServiceEntries into registry
services); ServiceEntries are indexed here for generators that need their extra fields.
Other kinds (security, telemetry) are ignored by this index.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from mizzen.api import (
    DestinationRule,
    Gateway,
    Resource,
    ServiceEntry,
    Sidecar,
    VirtualService,
)

__all__ = [
    "DEFAULT_DNS_SUFFIX",
    "DEFAULT_NAMESPACE",
    "DEFAULT_ROOT_NAMESPACE",
    "MeshConfig",
    "namespace_of",
    "resolve_host",
    "resource_id",
]

DEFAULT_NAMESPACE = "default"
"""The namespace of a resource stored without one."""
DEFAULT_ROOT_NAMESPACE = "istio-system"
"""Istio's root config namespace: mesh-wide defaults (Sidecar, DestinationRule) live there."""
DEFAULT_DNS_SUFFIX = "cluster.local"
"""The cluster DNS suffix short host names are completed with."""

_R = TypeVar("_R", bound=Resource)


def namespace_of(resource: Resource) -> str:
    """The resource's namespace (``default`` when it has none)."""
    return resource.namespace or DEFAULT_NAMESPACE


def resource_id(resource: Resource) -> str:
    """``<Kind>/<namespace>/<name>``: a resource's identity, for keys and error messages."""
    return f"{resource.kind}/{namespace_of(resource)}/{resource.name}"


def resolve_host(host: str, namespace: str, dns_suffix: str = DEFAULT_DNS_SUFFIX) -> str:
    """Istio's short-name resolution: ``reviews`` in namespace ``default`` is
    ``reviews.default.svc.cluster.local``; a name with a dot, ``*`` or a wildcard is kept
    (lower-cased). Pure."""
    host = host.lower()
    if host.startswith("*") or "." in host or not host:
        return host
    return f"{host}.{namespace}.svc.{dns_suffix}"


def _sorted(resources: Iterable[_R]) -> tuple[_R, ...]:
    return tuple(sorted(resources, key=lambda r: (namespace_of(r), r.name)))


def _freeze(index: Mapping[str, list[_R]]) -> Mapping[str, tuple[_R, ...]]:
    return MappingProxyType({key: tuple(values) for key, values in sorted(index.items())})


@dataclass(frozen=True, slots=True)
class MeshConfig:
    """The Istio networking config at one revision, indexed for the generators.

    Build it with :meth:`from_resources`. Immutable and safe to share between tasks; every
    tuple is sorted by ``(namespace, name)``. The ``*_by_host`` indexes map a resolved host
    (see :func:`resolve_host`) to the resources naming it; wildcard hosts are keys too
    (``*.example.com``), and :meth:`virtual_services_for` / :meth:`destination_rules_for`
    find both exact and wildcard matches.

    Fields:
        virtual_services, destination_rules, service_entries, sidecars, gateways: the
            resources of each kind.
        root_namespace: Istio's root namespace (mesh-wide Sidecar and DestinationRules).
        dns_suffix: the suffix short host names are completed with.
    """

    virtual_services: tuple[VirtualService, ...] = ()
    destination_rules: tuple[DestinationRule, ...] = ()
    service_entries: tuple[ServiceEntry, ...] = ()
    sidecars: tuple[Sidecar, ...] = ()
    gateways: tuple[Gateway, ...] = ()
    root_namespace: str = DEFAULT_ROOT_NAMESPACE
    dns_suffix: str = DEFAULT_DNS_SUFFIX
    vs_by_host: Mapping[str, tuple[VirtualService, ...]] = field(init=False)
    dr_by_host: Mapping[str, tuple[DestinationRule, ...]] = field(init=False)
    se_by_host: Mapping[str, tuple[ServiceEntry, ...]] = field(init=False)
    # The wildcard keys of vs_by_host / dr_by_host, most specific first: a lookup scans these
    # few instead of every key (which made route generation O(hosts²)).
    _vs_wildcards: tuple[str, ...] = field(init=False, repr=False)
    _dr_wildcards: tuple[str, ...] = field(init=False, repr=False)
    _vs_by_name: Mapping[tuple[str, str], VirtualService] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("virtual_services", "destination_rules", "service_entries", "sidecars",
                     "gateways"):  # fmt: skip
            object.__setattr__(self, name, _sorted(getattr(self, name)))
        vs_index: dict[str, list[VirtualService]] = {}
        for vs in self.virtual_services:
            for host in dict.fromkeys(self.resolve(h, vs) for h in vs.spec.hosts or ()):
                vs_index.setdefault(host, []).append(vs)
        dr_index: dict[str, list[DestinationRule]] = {}
        for dr in self.destination_rules:
            dr_index.setdefault(self.resolve(dr.spec.host, dr), []).append(dr)
        se_index: dict[str, list[ServiceEntry]] = {}
        for se in self.service_entries:
            for host in dict.fromkeys(self.resolve(h, se) for h in se.spec.hosts):
                se_index.setdefault(host, []).append(se)
        object.__setattr__(self, "vs_by_host", _freeze(vs_index))
        object.__setattr__(self, "dr_by_host", _freeze(dr_index))
        object.__setattr__(self, "se_by_host", _freeze(se_index))
        object.__setattr__(self, "_vs_wildcards", _wildcard_keys(vs_index))
        object.__setattr__(self, "_dr_wildcards", _wildcard_keys(dr_index))
        object.__setattr__(self, "_vs_by_name", MappingProxyType(
            {(namespace_of(vs), vs.name): vs for vs in self.virtual_services}))  # fmt: skip

    @classmethod
    def from_resources(
        cls,
        resources: Iterable[Resource],
        *,
        root_namespace: str = DEFAULT_ROOT_NAMESPACE,
        dns_suffix: str = DEFAULT_DNS_SUFFIX,
    ) -> MeshConfig:
        """Index ``resources`` (any kinds; those translation does not read are ignored)."""
        by_kind: dict[type[Resource], list[Resource]] = {}
        for resource in resources:
            by_kind.setdefault(type(resource), []).append(resource)

        def _of(kind: type[_R]) -> tuple[_R, ...]:
            return tuple(r for r in by_kind.get(kind, ()) if isinstance(r, kind))

        return cls(
            virtual_services=_of(VirtualService),
            destination_rules=_of(DestinationRule),
            service_entries=_of(ServiceEntry),
            sidecars=_of(Sidecar),
            gateways=_of(Gateway),
            root_namespace=root_namespace,
            dns_suffix=dns_suffix,
        )

    def resolve(self, host: str, resource: Resource) -> str:
        """``host`` as written in ``resource``, resolved against its namespace."""
        return resolve_host(host, namespace_of(resource), self.dns_suffix)

    def virtual_services_for(self, hostname: str) -> tuple[VirtualService, ...]:
        """VirtualServices naming ``hostname`` exactly, then those whose wildcard host covers
        it (more specific wildcards first); each once."""
        return _exact_then_wildcards(self.vs_by_host, self._vs_wildcards, hostname)

    def destination_rules_for(self, hostname: str) -> tuple[DestinationRule, ...]:
        """DestinationRules whose host is ``hostname``, then those whose wildcard host covers
        it (more specific wildcards first)."""
        return _exact_then_wildcards(self.dr_by_host, self._dr_wildcards, hostname)

    def service_entries_for(self, hostname: str) -> tuple[ServiceEntry, ...]:
        """ServiceEntries declaring ``hostname`` exactly."""
        return self.se_by_host.get(hostname.lower(), ())

    def sidecars_in(self, namespace: str) -> tuple[Sidecar, ...]:
        """Sidecars of ``namespace``, by name."""
        return tuple(s for s in self.sidecars if namespace_of(s) == namespace)

    def gateways_in(self, namespace: str) -> tuple[Gateway, ...]:
        """Gateways of ``namespace``, by name."""
        return tuple(g for g in self.gateways if namespace_of(g) == namespace)

    def virtual_service_named(self, namespace: str, name: str) -> VirtualService | None:
        """The VirtualService ``namespace/name``, if any (delegates are found by name)."""
        return self._vs_by_name.get((namespace, name))

    def virtual_services_in(self, namespace: str) -> tuple[VirtualService, ...]:
        """VirtualServices of ``namespace``, by name."""
        return tuple(v for v in self.virtual_services if namespace_of(v) == namespace)

    def destination_rules_in(self, namespace: str) -> tuple[DestinationRule, ...]:
        """DestinationRules of ``namespace``, by name."""
        return tuple(d for d in self.destination_rules if namespace_of(d) == namespace)


def _covers(pattern: str, host: str) -> bool:
    # `*` covers everything; `*.example.com` covers `a.example.com`; `*foo.com` `barfoo.com`.
    suffix = pattern[1:]
    return pattern == "*" or (host.endswith(suffix) and len(host) > len(suffix))


def _wildcard_keys(index: Mapping[str, object]) -> tuple[str, ...]:
    """The wildcard hosts among ``index``'s keys, most specific (longest) first."""
    return tuple(sorted((key for key in index if key.startswith("*")),
                        key=lambda key: (-len(key), key)))  # fmt: skip


def _exact_then_wildcards(
    index: Mapping[str, tuple[_R, ...]], wildcard_keys: tuple[str, ...], hostname: str
) -> tuple[_R, ...]:
    hostname = hostname.lower()
    found: list[_R] = list(index.get(hostname, ()))
    seen = {id(r) for r in found}
    wildcards = [key for key in wildcard_keys if key != hostname and _covers(key, hostname)]
    for key in wildcards:
        for resource in index[key]:
            if id(resource) not in seen:  # a resource listing two covering wildcards
                seen.add(id(resource))
                found.append(resource)
    return tuple(found)
