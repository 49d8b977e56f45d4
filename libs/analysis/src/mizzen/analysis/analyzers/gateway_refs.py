"""virtualservice.GatewayAnalyzer: gateways a VirtualService is bound to, and their hosts.

IST0101 when a referenced Gateway does not exist (in `spec.gateways` or in a match's
`gateways`); IST0132 when none of the VirtualService's hosts is among the hosts the Gateway
exposes to the VirtualService's namespace (the VirtualService then serves nothing there).
Unlike Istio's analyzer, IST0132 is not also reported for a Gateway that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator

from mizzen.analysis.analyzer import Analyzer, Context
from mizzen.analysis.hosts import (
    MESH_GATEWAY,
    gateway_hosts_for_namespace,
    hosts_match,
    resolve_gateway,
)
from mizzen.analysis.messages import (
    REFERENCED_RESOURCE_NOT_FOUND,
    VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY,
    Message,
    go_list,
    go_quote,
)
from mizzen.api import Gateway, VirtualService

__all__ = ["ANALYZER"]


def _match_gateway_refs(vs: VirtualService) -> Iterator[tuple[str, str]]:
    spec = vs.spec
    matches: list[tuple[str, list[str] | None]] = []
    for i, http in enumerate(spec.http or ()):
        matches += [(f"http[{i}].match[{j}]", m.gateways) for j, m in enumerate(http.match or ())]
    for i, tcp in enumerate(spec.tcp or ()):
        matches += [(f"tcp[{i}].match[{j}]", m.gateways) for j, m in enumerate(tcp.match or ())]
    for i, tls in enumerate(spec.tls or ()):
        matches += [(f"tls[{i}].match[{j}]", m.gateways) for j, m in enumerate(tls.match)]
    for where, gateways in matches:
        for k, ref in enumerate(gateways or ()):
            yield f"spec.{where}.gateways[{k}]", ref


def _serves_any_host(gateway: Gateway, vs: VirtualService) -> bool:
    server_hosts = [h for server in gateway.spec.servers or () for h in server.hosts]
    exposed = gateway_hosts_for_namespace(server_hosts, gateway.namespace, vs.namespace)
    return any(hosts_match(g, h) for g in exposed for h in vs.spec.hosts or ())


def _run(ctx: Context) -> Iterator[Message]:
    for vs in ctx.of(VirtualService):
        for i, ref in enumerate(vs.spec.gateways or ()):
            if ref == MESH_GATEWAY:
                continue
            gateway = ctx.gateway(*resolve_gateway(ref, vs.namespace))
            if gateway is None:
                yield ctx.report(REFERENCED_RESOURCE_NOT_FOUND, vs, f"spec.gateways[{i}]",
                                 "gateway", go_quote(ref))  # fmt: skip
            elif vs.spec.hosts and not _serves_any_host(gateway, vs):
                yield ctx.report(
                    VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY, vs, "spec.hosts",
                    go_list(list(vs.spec.hosts)), f"{vs.namespace}/{vs.name}",
                    f"{gateway.namespace}/{gateway.name}",
                )  # fmt: skip
        for path, ref in _match_gateway_refs(vs):
            if ref != MESH_GATEWAY and ctx.gateway(*resolve_gateway(ref, vs.namespace)) is None:
                yield ctx.report(REFERENCED_RESOURCE_NOT_FOUND, vs, path, "gateway",
                                 go_quote(ref))  # fmt: skip


ANALYZER = Analyzer(
    name="virtualservice.GatewayAnalyzer",
    description="Checks that the gateways a VirtualService is bound to exist and expose "
    "one of its hosts",
    codes=("IST0101", "IST0132"),
    inputs=("VirtualService", "Gateway"),
    needs_workloads=False,
    run=_run,
)
