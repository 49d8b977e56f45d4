"""Every analyzer, registered in one list, and `analyze()` that runs them."""

from __future__ import annotations

from collections.abc import Iterable

from mizzen.analysis.analyzer import Analyzer, Context, Snapshot
from mizzen.analysis.analyzers import (
    destination_rule_hosts,
    destination_subsets,
    gateway_conflicts,
    gateway_refs,
    gateway_workloads,
    mesh_gateway_hosts,
    mtls_conflicts,
    route_matches,
    sidecar_defaults,
    workload_selectors,
)
from mizzen.analysis.messages import ANALYZER_SKIPPED, INTERNAL_ERROR, Message
from mizzen.analysis.workloads import WorkloadLike, normalize_workloads
from mizzen.api import Resource

__all__ = ["ANALYZERS", "DEFAULT_NAMESPACE", "ROOT_NAMESPACE", "analyze"]

ANALYZERS: tuple[Analyzer, ...] = (
    destination_subsets.ANALYZER,
    gateway_refs.ANALYZER,
    mesh_gateway_hosts.ANALYZER,
    route_matches.ANALYZER,
    destination_rule_hosts.ANALYZER,
    gateway_conflicts.ANALYZER,
    gateway_workloads.ANALYZER,
    workload_selectors.ANALYZER,
    sidecar_defaults.ANALYZER,
    mtls_conflicts.ANALYZER,
)

ROOT_NAMESPACE = "istio-system"
DEFAULT_NAMESPACE = "default"


def _in_namespace(resource: Resource, namespace: str) -> Resource:
    if resource.metadata.namespace:
        return resource
    metadata = resource.metadata.model_copy(update={"namespace": namespace})
    return resource.model_copy(update={"metadata": metadata})


def analyze(
    resources: Iterable[Resource],
    *,
    workloads: Iterable[WorkloadLike] | None = None,
    root_namespace: str = ROOT_NAMESPACE,
    default_namespace: str = DEFAULT_NAMESPACE,
) -> list[Message]:
    """Run every analyzer in `ANALYZERS` over `resources`; return their messages, sorted.

    - A resource without a namespace is taken to be in `default_namespace`. When several
      resources have the same kind, namespace and name, the last one given is analyzed
      (so local files listed after stored config override it, as in istioctl).
    - `workloads` are the known workloads as (namespace, labels, ports). When it is None,
      the analyzers that need workloads do not run, and each says so in an Info message
      with code MZ0002 (AnalyzerSkipped) and no resource; an empty list means "there are
      no workloads" and runs them. A malformed workload raises `InputError`.
    - `root_namespace` is the mesh's root namespace (mesh-wide policies live there).

    Messages come sorted: Errors first, then by code, resource, field path and text, with
    duplicates removed. An analyzer that fails is reported as IST0001 (InternalError), and
    the others still run. Nothing is mutated; the function is pure and thread-safe.
    """
    latest: dict[tuple[str, str, str], Resource] = {}
    for resource in resources:
        placed = _in_namespace(resource, default_namespace)
        latest[(placed.kind, placed.namespace, placed.name)] = placed
    known = normalize_workloads(workloads) if workloads is not None else None
    snapshot = Snapshot(latest.values(), known, root_namespace)
    found: set[Message] = set()
    for analyzer in ANALYZERS:
        if analyzer.needs_workloads and known is None:
            found.add(ANALYZER_SKIPPED.at(None, "", analyzer.name, analyzer.name,
                                          "no workloads were given to match against"))  # fmt: skip
            continue
        try:
            found.update(analyzer.run(Context(snapshot, analyzer)))
        except Exception as exc:  # one broken analyzer must not hide the others' findings
            found.add(INTERNAL_ERROR.at(None, "", analyzer.name,
                                        f"analyzer {analyzer.name} failed: {exc!r}"))  # fmt: skip
    return sorted(found, key=Message.sort_key)
