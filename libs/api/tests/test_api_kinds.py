"""The kind registry the CLI uses: short names, plurals, versions."""

from __future__ import annotations

import pytest

from mizzen.api import KINDS, all_kinds, lookup_kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [("vs", "VirtualService"), ("dr", "DestinationRule"), ("gw", "Gateway"),
     ("se", "ServiceEntry"), ("sidecar", "Sidecar"), ("we", "WorkloadEntry"),
     ("wg", "WorkloadGroup"), ("pa", "PeerAuthentication"), ("ra", "RequestAuthentication"),
     ("ap", "AuthorizationPolicy"), ("telemetry", "Telemetry"),
     ("virtualservices", "VirtualService"), ("AuthorizationPolicies", "AuthorizationPolicy"),
     ("serviceentries.networking.istio.io", "ServiceEntry"), ("Gateway", "Gateway"),
     ("telemetries", "Telemetry")],
)  # fmt: skip
def test_lookup_by_any_name(name: str, kind: str) -> None:
    """Short names, plurals, kind names (any case) and plural.group all resolve."""
    info = lookup_kind(name)
    assert info is not None
    assert info.kind == kind


def test_unknown_names_resolve_to_nothing() -> None:
    """Names of other kinds are not guessed."""
    assert lookup_kind("pod") is None
    assert lookup_kind("") is None


def test_registry_shape() -> None:
    """Eleven kinds, each with its model, group, versions and a unique plural."""
    assert len(KINDS) == 11
    assert list(all_kinds()) == list(KINDS)
    assert len({k.plural for k in KINDS}) == 11
    for info in KINDS:
        assert info.kind == info.model.KIND
        assert info.group == info.model.GROUP
        assert info.preferred_api_version == f"{info.group}/v1"
    vs = lookup_kind("vs")
    assert vs is not None
    assert vs.api_versions == (
        "networking.istio.io/v1",
        "networking.istio.io/v1beta1",
        "networking.istio.io/v1alpha3",
    )
