"""The registry of resource kinds: groups, served versions, plural and short names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mizzen.api.networking.destination_rule import DestinationRule
from mizzen.api.networking.gateway import Gateway
from mizzen.api.networking.service_entry import ServiceEntry
from mizzen.api.networking.sidecar import Sidecar
from mizzen.api.networking.virtual_service import VirtualService
from mizzen.api.networking.workload_entry import WorkloadEntry, WorkloadGroup
from mizzen.api.resource import Resource
from mizzen.api.security.authorization_policy import AuthorizationPolicy
from mizzen.api.security.peer_authentication import PeerAuthentication
from mizzen.api.security.request_authentication import RequestAuthentication
from mizzen.api.telemetry import Telemetry

__all__ = ["KINDS", "KindInfo", "all_kinds", "lookup_kind"]


@dataclass(frozen=True, slots=True)
class KindInfo:
    """What the API knows about one kind.

    `versions` lists every served version, the preferred one (newest stable) first.
    `short_names` are the abbreviations the CLI accepts (as `kubectl` does for Istio).
    """

    kind: str
    group: str
    versions: tuple[str, ...]
    plural: str
    short_names: tuple[str, ...]
    model: type[Resource]

    @property
    def api_versions(self) -> tuple[str, ...]:
        """Every accepted `apiVersion` value, preferred first."""
        return tuple(f"{self.group}/{v}" for v in self.versions)

    @property
    def preferred_api_version(self) -> str:
        """The `apiVersion` new resources should be written with."""
        return self.api_versions[0]


_NETWORKING = ("v1", "v1beta1", "v1alpha3")
_SECURITY = ("v1", "v1beta1")

KINDS: tuple[KindInfo, ...] = (
    KindInfo(
        "VirtualService",
        "networking.istio.io",
        _NETWORKING,
        "virtualservices",
        ("vs",),
        VirtualService,
    ),
    KindInfo(
        "DestinationRule",
        "networking.istio.io",
        _NETWORKING,
        "destinationrules",
        ("dr",),
        DestinationRule,
    ),
    KindInfo("Gateway", "networking.istio.io", _NETWORKING, "gateways", ("gw",), Gateway),
    KindInfo(
        "ServiceEntry", "networking.istio.io", _NETWORKING, "serviceentries", ("se",), ServiceEntry
    ),
    KindInfo("Sidecar", "networking.istio.io", _NETWORKING, "sidecars", ("sidecar",), Sidecar),
    KindInfo(
        "WorkloadEntry",
        "networking.istio.io",
        _NETWORKING,
        "workloadentries",
        ("we",),
        WorkloadEntry,
    ),
    KindInfo(
        "WorkloadGroup",
        "networking.istio.io",
        _NETWORKING,
        "workloadgroups",
        ("wg",),
        WorkloadGroup,
    ),
    KindInfo(
        "PeerAuthentication",
        "security.istio.io",
        _SECURITY,
        "peerauthentications",
        ("pa",),
        PeerAuthentication,
    ),
    KindInfo(
        "RequestAuthentication",
        "security.istio.io",
        _SECURITY,
        "requestauthentications",
        ("ra",),
        RequestAuthentication,
    ),
    KindInfo(
        "AuthorizationPolicy",
        "security.istio.io",
        _SECURITY,
        "authorizationpolicies",
        ("ap",),
        AuthorizationPolicy,
    ),
    KindInfo(
        "Telemetry",
        "telemetry.istio.io",
        ("v1", "v1alpha1"),
        "telemetries",
        ("telemetry",),
        Telemetry,
    ),
)

_BY_NAME: dict[str, KindInfo] = {}
for _info in KINDS:
    for _key in (_info.kind, _info.plural, _info.kind.lower(), *_info.short_names):
        _BY_NAME[_key.lower()] = _info
    _BY_NAME[f"{_info.plural}.{_info.group}"] = _info


def lookup_kind(name: str) -> KindInfo | None:
    """Find a kind by kind name, plural, short name (any case) or `plural.group`.

    Returns None when nothing matches.
    """
    return _BY_NAME.get(name.lower())


def all_kinds() -> Iterator[KindInfo]:
    """Iterate over every kind, in registry order."""
    return iter(KINDS)
