"""DestinationRule rules."""

from __future__ import annotations

from mizzen.api.hosts import check_wildcard_domain
from mizzen.api.networking.destination_rule import DestinationRule
from mizzen.api.rules.common import (
    check_export_to,
    check_label_map,
    check_match_labels,
    check_subset_name,
)
from mizzen.api.rules.issues import Issues
from mizzen.api.rules.traffic_policy import check_traffic_policy

__all__ = ["check_destination_rule"]


def check_destination_rule(dr: DestinationRule, out: Issues) -> None:
    """Host, subsets (unique DNS-label names, valid labels), traffic policies, exportTo."""
    spec = dr.spec
    out.add_if("spec.host", check_wildcard_domain(spec.host))
    if spec.traffic_policy is not None:
        check_traffic_policy(spec.traffic_policy, "spec.trafficPolicy", out)
    names: set[str] = set()
    for i, subset in enumerate(spec.subsets or ()):
        where = f"spec.subsets[{i}]"
        check_subset_name(subset.name, f"{where}.name", out)
        if subset.name in names:
            out.add(f"{where}.name", f"duplicate subset name {subset.name!r}")
        names.add(subset.name)
        check_label_map(subset.labels, f"{where}.labels", out)
        if subset.traffic_policy is not None:
            check_traffic_policy(subset.traffic_policy, f"{where}.trafficPolicy", out)
    check_match_labels(spec.workload_selector, "spec.workloadSelector", out)
    check_export_to(dr.namespace, spec.export_to, out)
    if spec.workload_selector is not None and spec.export_to:
        local = {".", dr.namespace} if dr.namespace else {"."}
        if not set(spec.export_to) <= local:
            out.add(
                "spec.exportTo",
                "a DestinationRule with workloadSelector can only be "
                "exported to its own namespace ('.')",
            )
