"""gateway.ConflictingGatewayAnalyzer: two Gateways claiming the same hosts on one port.

When Gateways select the same workloads (the same selector) and have servers on the same
port (and bind address) with overlapping hosts, only one of those servers can be used:
IST0145, reported on each Gateway involved, with its own overlapping hosts.
"""

from __future__ import annotations

from collections.abc import Iterator

from mizzen.analysis.analyzer import Analyzer, Context
from mizzen.analysis.hosts import hosts_match
from mizzen.analysis.messages import CONFLICTING_GATEWAYS, Message
from mizzen.analysis.workloads import selector_text
from mizzen.api import Gateway

__all__ = ["ANALYZER"]

# (selector, port number, bind) -> [(gateway, server index, hosts without namespace)]
_Listeners = dict[tuple[str, int, str], list[tuple[Gateway, int, list[str]]]]


def _host(entry: str) -> str:
    return entry.rpartition("/")[2]


def _run(ctx: Context) -> Iterator[Message]:
    listeners: _Listeners = {}
    for gw in ctx.of(Gateway):
        selector = selector_text(gw.spec.selector)
        for i, server in enumerate(gw.spec.servers or ()):
            key = (selector, server.port.number, server.bind or "")
            listeners.setdefault(key, []).append((gw, i, [_host(h) for h in server.hosts]))
    for (selector, port, _), servers in sorted(listeners.items()):
        for gw, index, hosts in servers:
            others: list[str] = []
            overlapping: list[str] = []
            for other, _, other_hosts in servers:
                if other is gw:
                    continue
                shared = [h for h in hosts if any(hosts_match(h, o) for o in other_hosts)]
                if shared:
                    others.append(f"{other.namespace}/{other.name}")
                    overlapping.extend(h for h in shared if h not in overlapping)
            if others:
                yield ctx.report(CONFLICTING_GATEWAYS, gw, f"spec.servers[{index}]",
                                 ",".join(sorted(set(others))), selector, port,
                                 ",".join(overlapping))  # fmt: skip


ANALYZER = Analyzer(
    name="gateway.ConflictingGatewayAnalyzer",
    description="Checks that Gateways selecting the same workloads do not claim the same "
    "hosts on the same port",
    codes=("IST0145",),
    inputs=("Gateway",),
    needs_workloads=False,
    run=_run,
)
