"""The xds service's settings: the only place it reads its environment and flags."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from mizzen.runtime import ServiceSettings, Setting

DEFAULT_GRPC_PORT = 15010
DEFAULT_METRICS_PORT = 15110


@dataclasses.dataclass(frozen=True, kw_only=True)
class XdsSettings(ServiceSettings):
    """Settings of the xds service (environment: ``MIZZEN_XDS_<FIELD>``)."""

    service_name: str = "xds"
    grpc_port: Annotated[int, Setting("Port of the ADS gRPC server.", minimum=0, maximum=65535)] = (
        DEFAULT_GRPC_PORT
    )
    metrics_port: Annotated[
        int, Setting("Port of /metrics, /healthz and /readyz.", minimum=0, maximum=65535)
    ] = DEFAULT_METRICS_PORT
    store_url: Annotated[
        str,
        Setting("Where snapshots live: etcd://host:port[,host:port] or memory://.", shared=True),
    ] = "etcd://127.0.0.1:2379"
    replica_id: Annotated[
        str,
        Setting("This replica's name in proxy status; empty means <hostname>-<pid>."),
    ] = ""
    proxy_status_ttl_seconds: Annotated[
        int,
        Setting(
            "TTL of the lease binding this replica's proxy status keys: how long a dead "
            "replica's proxies stay listed.",
            minimum=1,
        ),
    ] = 10
    status_flush_seconds: Annotated[
        float,
        Setting("Quiet time gathering ACKs/NACKs into one proxy status write.", minimum=0.0),
    ] = 0.05
    body_cache_mb: Annotated[
        int, Setting("Memory for cached resource bodies, shared by every stream.", minimum=1)
    ] = 64
    route_hold_seconds: Annotated[
        float,
        Setting(
            "Longest wait of listener and route updates for the proxy to ACK the clusters "
            "they use (sent anyway afterwards, with a warning).",
            minimum=0.0,
        ),
    ] = 5.0
    class_wait_seconds: Annotated[
        float,
        Setting(
            "How long a connected proxy waits for its class's first translation before xds "
            "asks the translator for it again.",
            minimum=0.1,
        ),
    ] = 10.0
