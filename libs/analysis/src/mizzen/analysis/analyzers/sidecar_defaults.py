"""sidecar.DefaultSelectorAnalyzer: more than one namespace-wide Sidecar in a namespace.

A namespace may have one Sidecar without a workload selector (its default); with more,
which applies is undefined: IST0111, as Istio reports it, on each of them.
"""

from __future__ import annotations

from collections.abc import Iterator

from mizzen.analysis.analyzer import Analyzer, Context
from mizzen.analysis.messages import (
    MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS,
    Message,
    go_list,
    go_quote,
)
from mizzen.api import Sidecar

__all__ = ["ANALYZER"]


def _run(ctx: Context) -> Iterator[Message]:
    defaults: dict[str, list[Sidecar]] = {}
    for sidecar in ctx.of(Sidecar):
        selector = sidecar.spec.workload_selector
        if selector is None or not selector.labels:
            defaults.setdefault(sidecar.namespace, []).append(sidecar)
    for namespace, sidecars in sorted(defaults.items()):
        if len(sidecars) < 2:
            continue
        names = go_list([f"{s.namespace}/{s.name}" for s in sidecars])
        for sidecar in sidecars:
            yield ctx.report(MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS, sidecar,
                             "spec.workloadSelector", names, go_quote(namespace))  # fmt: skip


ANALYZER = Analyzer(
    name="sidecar.DefaultSelectorAnalyzer",
    description="Checks that a namespace has at most one Sidecar without a workload selector",
    codes=("IST0111",),
    inputs=("Sidecar",),
    needs_workloads=False,
    run=_run,
)
