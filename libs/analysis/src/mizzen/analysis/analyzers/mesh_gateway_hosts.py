"""virtualservice.ConflictingMeshGatewayHostsAnalyzer: one host, several mesh VirtualServices.

VirtualServices bound to the `mesh` gateway (explicitly, or by naming no gateway) are not
merged: when two are visible in one namespace for the same host, which one applies is
undefined. Reported as Istio does (IST0109), once per VirtualService, with the host as
`scope/fqdn` (`*` when exported to every namespace).
"""

from __future__ import annotations

from collections.abc import Iterator

from mizzen.analysis.analyzer import Analyzer, Context
from mizzen.analysis.hosts import MESH_GATEWAY, export_scopes, to_fqdn
from mizzen.analysis.messages import CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS, Message
from mizzen.api import VirtualService

__all__ = ["ANALYZER"]

# (VirtualService, index of the host in spec.hosts, namespaces it is exported to)
_Entry = tuple[VirtualService, int, list[str]]


def _conflicts(entries: list[_Entry]) -> Iterator[tuple[str, list[_Entry]]]:
    """(scope, entries visible there) for every scope where two or more are visible.

    A VirtualService exported everywhere (`*`) is visible in every namespace, so it also
    conflicts with one exported to a single namespace; each group is reported once.
    """
    scopes = sorted({s for _, _, vs_scopes in entries for s in vs_scopes})
    seen: set[frozenset[int]] = set()
    for scope in scopes:
        visible = [e for e in entries if "*" in e[2] or scope in e[2]]
        members = frozenset(id(e[0]) for e in visible)
        if len(visible) > 1 and members not in seen:
            seen.add(members)
            yield scope, visible


def _run(ctx: Context) -> Iterator[Message]:
    by_host: dict[str, list[_Entry]] = {}
    for vs in ctx.of(VirtualService):
        if MESH_GATEWAY not in (vs.spec.gateways or [MESH_GATEWAY]):
            continue
        scopes = export_scopes(vs.spec.export_to, vs.namespace)
        for i, host in enumerate(vs.spec.hosts or ()):
            entries = by_host.setdefault(to_fqdn(host, vs.namespace), [])
            if all(other is not vs for other, _, _ in entries):
                entries.append((vs, i, scopes))
    for fqdn, entries in sorted(by_host.items()):
        for scope, visible in _conflicts(entries):
            names = ",".join(f"{vs.namespace}/{vs.name}" for vs, _, _ in visible)
            for vs, i, _ in visible:
                yield ctx.report(CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS, vs,
                                 f"spec.hosts[{i}]", names, f"{scope}/{fqdn}")  # fmt: skip


ANALYZER = Analyzer(
    name="virtualservice.ConflictingMeshGatewayHostsAnalyzer",
    description="Checks that no two VirtualServices bound to the mesh gateway define the "
    "same host for the same namespaces",
    codes=("IST0109",),
    inputs=("VirtualService",),
    needs_workloads=False,
    run=_run,
)
