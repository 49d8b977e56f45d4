"""The environment the app runs in: its proxy, its address and its ports.

The app reaches other services through its Envoy, used as an HTTP proxy (requests in absolute
form, routed by Host; other protocols with CONNECT), and learns where it lives from
``MIZZEN_*`` variables. It must listen on its app ports at 127.0.0.1 (or 0.0.0.0), where its
Envoy's inbound listeners forward.
"""

from __future__ import annotations

from collections.abc import Mapping

from mizzen.agent.domain.workload import WorkloadSpec

__all__ = ["OUTBOUND_PROXY_PORT", "app_environment", "port_pairs"]

OUTBOUND_PROXY_PORT = 15001
"""The port of the outbound HTTP proxy listener the translator generates on the address."""

_PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY")
_NO_PROXY_VARIABLES = ("no_proxy", "NO_PROXY")
# Variables the agent sets are removed from what the app inherits first, so that a stale
# value from the agent's own environment (e.g. https_proxy of a corporate proxy) can never
# send the app's traffic around its Envoy.
_CLEARED = ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


def port_pairs(spec: WorkloadSpec) -> str:
    """``MIZZEN_PORTS``: ``<service port>:<app port>`` pairs, comma-separated, in given order."""
    return ",".join(f"{p.port}:{p.app_port}" for p in spec.ports)


def app_environment(
    spec: WorkloadSpec, address: str, inherited: Mapping[str, str]
) -> dict[str, str]:
    """The complete environment of the app: ``inherited`` plus the mesh's variables.

    ``http_proxy``/``HTTP_PROXY`` point at ``http://<address>:15001``; ``no_proxy``/``NO_PROXY``
    list the workload's own address, ``localhost`` and ``127.0.0.1``; ``MIZZEN_ADDRESS``,
    ``MIZZEN_WORKLOAD``, ``MIZZEN_NAMESPACE``, ``MIZZEN_PORTS`` (see :func:`port_pairs`) and
    ``MIZZEN_APP_PORT`` (the first app port; absent for a workload that serves nothing)
    say where it lives. Returns a new dict; ``inherited`` is not changed.
    """
    env = {key: value for key, value in inherited.items() if key not in _CLEARED}
    proxy = f"http://{address}:{OUTBOUND_PROXY_PORT}"
    no_proxy = f"{address},localhost,127.0.0.1"
    env.update(dict.fromkeys(_PROXY_VARIABLES, proxy))
    env.update(dict.fromkeys(_NO_PROXY_VARIABLES, no_proxy))
    env.update(
        {
            "MIZZEN_ADDRESS": address,
            "MIZZEN_WORKLOAD": spec.name,
            "MIZZEN_NAMESPACE": spec.namespace,
            "MIZZEN_PORTS": port_pairs(spec),
        }
    )
    env.pop("MIZZEN_APP_PORT", None)
    if spec.ports:
        env["MIZZEN_APP_PORT"] = str(spec.ports[0].app_port)
    return env
