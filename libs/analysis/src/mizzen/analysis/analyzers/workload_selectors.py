"""selector.WorkloadSelectorAnalyzer: workload selectors that match no known workload.

Needs the known workloads. A selector applies in its resource's namespace (in every
namespace when the resource is in the root namespace). As Istio reports them: a Sidecar's
`workloadSelector` matching nothing is IST0101 ("Referenced selector not found"); the
`selector` of an AuthorizationPolicy is IST0127 (NoMatchingWorkloadsFound). Mizzen reports
IST0127 for the other selector-bearing kinds too (PeerAuthentication,
RequestAuthentication, Telemetry, DestinationRule's `workloadSelector`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from mizzen.analysis.analyzer import Analyzer, Context
from mizzen.analysis.messages import (
    NO_MATCHING_WORKLOADS_FOUND,
    REFERENCED_RESOURCE_NOT_FOUND,
    Message,
    go_quote,
)
from mizzen.analysis.workloads import selector_matches, selector_text
from mizzen.api import (
    AuthorizationPolicy,
    DestinationRule,
    PeerAuthentication,
    RequestAuthentication,
    Resource,
    Sidecar,
    Telemetry,
)

__all__ = ["ANALYZER"]


def _selected(ctx: Context, resource: Resource, labels: Mapping[str, str]) -> bool:
    everywhere = resource.namespace == ctx.root_namespace
    return any(
        (everywhere or w.namespace == resource.namespace) and selector_matches(labels, w.labels)
        for w in ctx.workloads
    )


def _policy_selectors(ctx: Context) -> Iterator[tuple[Resource, str, Mapping[str, str]]]:
    policies: list[AuthorizationPolicy | PeerAuthentication | RequestAuthentication | Telemetry]
    policies = [
        *ctx.of(AuthorizationPolicy),
        *ctx.of(PeerAuthentication),
        *ctx.of(RequestAuthentication),
        *ctx.of(Telemetry),
    ]
    for policy in policies:
        selector = policy.spec.selector
        if selector is not None and selector.match_labels:
            yield policy, "spec.selector.matchLabels", selector.match_labels
    for dr in ctx.of(DestinationRule):
        selector = dr.spec.workload_selector
        if selector is not None and selector.match_labels:
            yield dr, "spec.workloadSelector.matchLabels", selector.match_labels


def _run(ctx: Context) -> Iterator[Message]:
    for sidecar in ctx.of(Sidecar):
        selector = sidecar.spec.workload_selector
        wanted = selector.labels if selector is not None else None
        if wanted and not _selected(ctx, sidecar, wanted):
            yield ctx.report(REFERENCED_RESOURCE_NOT_FOUND, sidecar,
                             "spec.workloadSelector.labels", "selector",
                             go_quote(selector_text(wanted)))  # fmt: skip
    for resource, path, labels in _policy_selectors(ctx):
        if not _selected(ctx, resource, labels):
            yield ctx.report(NO_MATCHING_WORKLOADS_FOUND, resource, path, selector_text(labels))


ANALYZER = Analyzer(
    name="selector.WorkloadSelectorAnalyzer",
    description="Checks that the workload selectors of Sidecars, policies and "
    "DestinationRules match at least one known workload",
    codes=("IST0101", "IST0127"),
    inputs=(
        "Sidecar",
        "AuthorizationPolicy",
        "PeerAuthentication",
        "RequestAuthentication",
        "Telemetry",
        "DestinationRule",
    ),
    needs_workloads=True,
    run=_run,
)
