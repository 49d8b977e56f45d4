"""Discovery's settings: the only place it reads its environment and flags."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from mizzen.registry import DEFAULT_DOMAIN
from mizzen.runtime import ServiceSettings, Setting

DEFAULT_GRPC_PORT = 15013
DEFAULT_METRICS_PORT = 15113


@dataclasses.dataclass(frozen=True, kw_only=True)
class DiscoverySettings(ServiceSettings):
    """Settings of discovery (environment: ``MIZZEN_DISCOVERY_<FIELD>``)."""

    service_name: str = "discovery"
    grpc_port: Annotated[
        int, Setting("Port of the registration API (gRPC).", minimum=0, maximum=65535)
    ] = DEFAULT_GRPC_PORT
    metrics_port: Annotated[
        int, Setting("Port of /metrics, /healthz and /readyz.", minimum=0, maximum=65535)
    ] = DEFAULT_METRICS_PORT
    store_url: Annotated[
        str, Setting("Where the registry lives: etcd://host:port[,host:port].", shared=True)
    ] = "etcd://127.0.0.1:2379"
    lease_ttl_seconds: Annotated[
        int,
        Setting(
            "TTL of registration leases (whole seconds): a silent agent's endpoints, or those "
            "held by a dead replica, vanish within it. Also the election lease's TTL.",
            minimum=1,
        ),
    ] = 10
    cluster_domain: Annotated[
        str, Setting("Domain of bare service names: <name>.<namespace>.svc.<domain>.")
    ] = DEFAULT_DOMAIN
    replica: Annotated[
        str, Setting("This replica's name in logs and elections (empty: <host>-<pid>).")
    ] = ""
    config_sources: Annotated[
        bool,
        Setting("Reconcile ServiceEntry/WorkloadEntry into the registry (one elected replica)."),
    ] = True
