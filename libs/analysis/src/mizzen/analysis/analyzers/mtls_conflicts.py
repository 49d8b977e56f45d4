"""security.MTLSConflictAnalyzer: client TLS that the server's PeerAuthentication refuses.

A DestinationRule that sends plain text or non-Istio TLS (`DISABLE`, `SIMPLE`, `MUTUAL`)
to services whose namespace-wide (or mesh-wide) PeerAuthentication is `STRICT`, or that
sends Istio mTLS (`ISTIO_MUTUAL`) to ones whose policy is `DISABLE`, makes every such
request fail. Reported with Istio's IST0113 MTLSPolicyConflict (which Istio itself only
emits for its old alpha policies). Workload-level PeerAuthentications (with a selector) are
not considered; hosts outside `*.svc.cluster.local` are skipped, and wildcard hosts that
span namespaces are compared with the mesh-wide policy only.
"""

from __future__ import annotations

from collections.abc import Iterator

from mizzen.analysis.analyzer import Analyzer, Context, age_order
from mizzen.analysis.hosts import CLUSTER_DOMAIN, namespace_of_host, to_fqdn
from mizzen.analysis.messages import MTLS_POLICY_CONFLICT, Message, go_quote
from mizzen.api import DestinationRule, PeerAuthentication
from mizzen.api.networking.traffic_policy import TrafficPolicy

__all__ = ["ANALYZER"]

_MESH_WIDE_HOSTS = {"*", f"*.{CLUSTER_DOMAIN}", "*.cluster.local", "*.local"}


def _tls_modes(dr: DestinationRule) -> Iterator[tuple[str, str]]:
    """(path of tls.mode, mode) of every TLS setting of the rule."""

    def of_policy(policy: TrafficPolicy | None, prefix: str) -> Iterator[tuple[str, str]]:
        if policy is None:
            return
        if policy.tls is not None and policy.tls.mode is not None:
            yield f"{prefix}.tls.mode", policy.tls.mode
        for i, port in enumerate(policy.port_level_settings or ()):
            if port.tls is not None and port.tls.mode is not None:
                yield f"{prefix}.portLevelSettings[{i}].tls.mode", port.tls.mode

    yield from of_policy(dr.spec.traffic_policy, "spec.trafficPolicy")
    for i, subset in enumerate(dr.spec.subsets or ()):
        yield from of_policy(subset.traffic_policy, f"spec.subsets[{i}].trafficPolicy")


def _namespace_policies(ctx: Context) -> dict[str, PeerAuthentication]:
    """The oldest selector-less PeerAuthentication with a mode, per namespace."""
    found: dict[str, PeerAuthentication] = {}
    for pa in sorted(ctx.of(PeerAuthentication), key=age_order):
        selector = pa.spec.selector
        mode = pa.spec.mtls.mode if pa.spec.mtls is not None else None
        if (selector is None or not selector.match_labels) and mode not in (None, "UNSET"):
            found.setdefault(pa.namespace, pa)
    return found


def _run(ctx: Context) -> Iterator[Message]:
    policies = _namespace_policies(ctx)
    mesh_policy = policies.get(ctx.root_namespace)
    for dr in ctx.of(DestinationRule):
        host = to_fqdn(dr.spec.host, dr.namespace)
        namespace = namespace_of_host(host)
        if namespace is not None:
            policy = policies.get(namespace, mesh_policy)
        else:
            policy = mesh_policy if host in _MESH_WIDE_HOSTS else None
        if policy is None or policy.spec.mtls is None:
            continue
        server_mode = policy.spec.mtls.mode
        for path, mode in _tls_modes(dr):
            istio_mtls = mode == "ISTIO_MUTUAL"
            if (server_mode == "STRICT" and not istio_mtls) or (
                server_mode == "DISABLE" and istio_mtls
            ):
                yield ctx.report(
                    MTLS_POLICY_CONFLICT, dr, path, host, go_quote(f"{dr.namespace}/{dr.name}"),
                    "true" if istio_mtls else "false",
                    go_quote(f"{policy.namespace}/{policy.name}"), server_mode,
                )  # fmt: skip


ANALYZER = Analyzer(
    name="security.MTLSConflictAnalyzer",
    description="Checks that DestinationRules do not send plain text to services whose "
    "PeerAuthentication is STRICT, nor Istio mTLS to ones whose policy is DISABLE",
    codes=("IST0113",),
    inputs=("DestinationRule", "PeerAuthentication"),
    needs_workloads=False,
    run=_run,
)
