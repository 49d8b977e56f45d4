"""virtualservice.DestinationRuleAnalyzer: routes to subsets that no DestinationRule defines.

Istio's analyzer of the same name reports IST0101 "Referenced host+subset in
destinationrule not found". Here the DestinationRule that applies is found as Istio's
router finds it: an exact host match first, else the most specific wildcard, among the
rules visible (exportTo) in the VirtualService's namespace.
"""

from __future__ import annotations

from collections.abc import Iterator

from mizzen.analysis.analyzer import Analyzer, Context
from mizzen.analysis.analyzers.routes import mirror_destinations, route_destinations
from mizzen.analysis.hosts import export_scopes, hosts_match, to_fqdn
from mizzen.analysis.messages import REFERENCED_RESOURCE_NOT_FOUND, Message, go_quote
from mizzen.api import DestinationRule, VirtualService

__all__ = ["ANALYZER"]

# (fqdn host, namespaces it is exported to, subset names)
_Rule = tuple[str, list[str], set[str]]


def _subsets_for(host: str, namespace: str, rules: list[_Rule]) -> set[str] | None:
    visible = [r for r in rules if "*" in r[1] or namespace in r[1]]
    exact = [r for r in visible if r[0] == host]
    if not exact and not host.startswith("*"):
        wildcards = [r for r in visible if r[0].startswith("*") and hosts_match(r[0], host)]
        if wildcards:
            longest = max(len(r[0]) for r in wildcards)
            exact = [r for r in wildcards if len(r[0]) == longest]
    if not exact:
        return None
    return set().union(*(r[2] for r in exact))


def _run(ctx: Context) -> Iterator[Message]:
    rules: list[_Rule] = [
        (
            to_fqdn(dr.spec.host, dr.namespace),
            export_scopes(dr.spec.export_to, dr.namespace),
            {s.name for s in dr.spec.subsets or ()},
        )
        for dr in ctx.of(DestinationRule)
    ]
    for vs in ctx.of(VirtualService):
        for what, destinations in (
            ("host", route_destinations(vs)),
            ("mirror", mirror_destinations(vs)),
        ):
            for path, dest in destinations:
                if not dest.subset:
                    continue
                subsets = _subsets_for(to_fqdn(dest.host, vs.namespace), vs.namespace, rules)
                if subsets is None or dest.subset not in subsets:
                    yield ctx.report(
                        REFERENCED_RESOURCE_NOT_FOUND, vs, f"{path}.subset",
                        f"{what}+subset in destinationrule", go_quote(f"{dest.host}+{dest.subset}"),
                    )  # fmt: skip


ANALYZER = Analyzer(
    name="virtualservice.DestinationRuleAnalyzer",
    description="Checks that every subset a VirtualService routes or mirrors to is defined "
    "by the DestinationRule of its host",
    codes=("IST0101",),
    inputs=("VirtualService", "DestinationRule"),
    needs_workloads=False,
    run=_run,
)
