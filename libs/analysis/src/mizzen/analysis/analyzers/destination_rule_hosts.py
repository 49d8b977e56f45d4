"""destinationrule.MultipleRulesForHostAnalyzer: several DestinationRules for one host.

Istio merges the DestinationRules of one namespace that have the same host, the same
workload selector and the same exportTo: subsets are combined (the first definition of a
name wins) and only the first top-level traffic policy, in age order, applies. Istio has no
analysis message for this, so Mizzen reports MZ0001 (Warning) on each of them, naming what
the merge drops.
"""

from __future__ import annotations

from collections.abc import Iterator

from mizzen.analysis.analyzer import Analyzer, Context, age_order
from mizzen.analysis.hosts import export_scopes, to_fqdn
from mizzen.analysis.messages import MULTIPLE_DESTINATION_RULES_FOR_HOST, Message
from mizzen.analysis.workloads import selector_text
from mizzen.api import DestinationRule

__all__ = ["ANALYZER"]


def _dropped(rules: list[DestinationRule]) -> list[str]:
    """What the merge of `rules` (oldest first) leaves out."""
    dropped: list[str] = []
    policy_taken = False
    subsets: set[str] = set()
    for dr in rules:
        ident = f"{dr.namespace}/{dr.name}"
        if dr.spec.traffic_policy is not None:
            if policy_taken:
                dropped.append(f"the traffic policy of {ident}")
            policy_taken = True
        for subset in dr.spec.subsets or ():
            if subset.name in subsets:
                dropped.append(f"subset {subset.name} of {ident}")
            subsets.add(subset.name)
    return dropped


def _run(ctx: Context) -> Iterator[Message]:
    groups: dict[tuple[str, str, str | None, tuple[str, ...]], list[DestinationRule]] = {}
    for dr in ctx.of(DestinationRule):
        selector = dr.spec.workload_selector
        key = (
            dr.namespace,
            to_fqdn(dr.spec.host, dr.namespace),
            selector_text(selector.match_labels) if selector is not None else None,
            tuple(export_scopes(dr.spec.export_to, dr.namespace)),
        )
        groups.setdefault(key, []).append(dr)
    for (_, host, _, _), rules in sorted(groups.items(), key=lambda item: item[0][:2]):
        if len(rules) < 2:
            continue
        rules.sort(key=age_order)
        names = ",".join(f"{dr.namespace}/{dr.name}" for dr in rules)
        dropped = _dropped(rules)
        detail = f"; ignored: {', '.join(dropped)}" if dropped else ""
        for dr in rules:
            yield ctx.report(MULTIPLE_DESTINATION_RULES_FOR_HOST, dr, "spec.host", names, host,
                             detail)  # fmt: skip


ANALYZER = Analyzer(
    name="destinationrule.MultipleRulesForHostAnalyzer",
    description="Checks for DestinationRules of one namespace that Istio would merge because "
    "they have the same host, workload selector and exportTo",
    codes=("MZ0001",),
    inputs=("DestinationRule",),
    needs_workloads=False,
    run=_run,
)
