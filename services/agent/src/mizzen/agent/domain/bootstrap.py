"""The workload's Envoy bootstrap, following Istio's node conventions.

The node id is ``sidecar~<address>~<name>.<namespace>~<namespace>.svc.cluster.local`` and its
metadata carries what the translator's proxy class is made of (read back by
:meth:`mizzen.snapshots.ProxyClass.from_node_metadata`): ``NAMESPACE``, ``LABELS``,
``SERVICE_ACCOUNT``, ``INTERCEPTION_MODE=NONE`` (local mode), ``LOCAL_ADDRESS`` and
``MIZZEN_INBOUND`` (``<service port>:<app port>:<protocol>,...``). Envoy's admin listens on
the workload's own address, port 15000, which is where ``mizzen proxy-config`` looks.
"""

from __future__ import annotations

from collections.abc import Sequence

from mizzen.agent.domain.workload import WorkloadSpec
from mizzen.agent.errors import WorkloadSpecError
from mizzen.envoy import (
    AdsMode,
    BootstrapConfig,
    InterceptionMode,
    NodeId,
    ProxyMetadata,
    ProxyType,
    XdsServerAddress,
)
from mizzen.envoy import Locality as NodeLocality
from mizzen.registry import Locality
from mizzen.snapshots import format_inbound
from mizzen.snapshots.proxy import META_INBOUND

__all__ = ["ADMIN_PORT", "bootstrap_config", "parse_server_address"]

ADMIN_PORT = 15000
"""Envoy's admin port on the workload's address (Istio's)."""


def parse_server_address(text: str, *, option: str) -> XdsServerAddress:
    """Parse ``HOST:PORT`` (``[v6]:PORT`` for IPv6). Raises :class:`WorkloadSpecError`."""
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise WorkloadSpecError(
            f"{option} {text!r}: expected HOST:PORT (e.g. 127.0.0.1:15010)", option=option
        )
    return XdsServerAddress(host, int(port))


def bootstrap_config(
    spec: WorkloadSpec,
    address: str,
    *,
    xds_servers: Sequence[XdsServerAddress],
    delta: bool = False,
    initial_fetch_timeout: float = 0.0,
) -> BootstrapConfig:
    """The bootstrap of ``spec``'s sidecar on ``address`` (see the module docstring).

    ADS goes to every one of ``xds_servers`` (one round-robin cluster: a broken stream
    reconnects to the next), state-of-the-world unless ``delta``. ``initial_fetch_timeout`` 0
    makes Envoy wait for its control plane before it reports ready.
    """
    metadata = ProxyMetadata(
        namespace=spec.namespace,
        labels=spec.labels,
        service_account=spec.service_account,
        interception_mode=InterceptionMode.NONE,
        local_address=address,
        workload_name=spec.name,
        instance_ips=(address,),
        extra={META_INBOUND: format_inbound(spec.inbound_ports())},
    )
    return BootstrapConfig(
        node_id=NodeId(ProxyType.SIDECAR, address, spec.name, spec.namespace),
        metadata=metadata,
        xds_servers=xds_servers,
        admin_port=ADMIN_PORT,
        admin_address=address,
        ads_mode=AdsMode.DELTA if delta else AdsMode.STATE_OF_THE_WORLD,
        initial_fetch_timeout=initial_fetch_timeout,
        locality=_node_locality(spec.where),
    )


def _node_locality(locality: Locality) -> NodeLocality | None:
    if not (locality.region or locality.zone or locality.sub_zone):
        return None
    return NodeLocality(locality.region, locality.zone, locality.sub_zone)
