"""gateway.WorkloadAnalyzer: Gateways whose selector matches no known workload.

Needs the known workloads. IST0101 ("Referenced selector not found") when no workload, in
any namespace, carries the Gateway's selector labels; else IST0162 for each server port
that none of the selected workloads serves (only when they registered their ports).
"""

from __future__ import annotations

from collections.abc import Iterator

from mizzen.analysis.analyzer import Analyzer, Context
from mizzen.analysis.messages import (
    GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
    REFERENCED_RESOURCE_NOT_FOUND,
    Message,
    go_quote,
)
from mizzen.analysis.workloads import selector_matches, selector_text
from mizzen.api import Gateway

__all__ = ["ANALYZER"]


def _run(ctx: Context) -> Iterator[Message]:
    for gw in ctx.of(Gateway):
        selector = selector_text(gw.spec.selector)
        selected = [w for w in ctx.workloads if selector_matches(gw.spec.selector, w.labels)]
        if not selected:
            yield ctx.report(REFERENCED_RESOURCE_NOT_FOUND, gw, "spec.selector", "selector",
                             go_quote(selector))  # fmt: skip
            continue
        ports = {p for w in selected for p in w.ports}
        if not ports:
            continue  # the workloads did not say which ports they serve
        for i, server in enumerate(gw.spec.servers or ()):
            if server.port.number not in ports:
                yield ctx.report(GATEWAY_PORT_NOT_DEFINED_ON_SERVICE, gw,
                                 f"spec.servers[{i}].port.number", server.port.number,
                                 selector)  # fmt: skip


ANALYZER = Analyzer(
    name="gateway.WorkloadAnalyzer",
    description="Checks that each Gateway selects at least one known workload, and that "
    "those workloads serve the Gateway's ports",
    codes=("IST0101", "IST0162"),
    inputs=("Gateway",),
    needs_workloads=True,
    run=_run,
)
