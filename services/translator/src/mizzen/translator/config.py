"""The translator's settings: the only place it reads its environment and flags."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from mizzen.runtime import ServiceSettings, Setting

DEFAULT_GRPC_PORT = 15011
DEFAULT_METRICS_PORT = 15111


@dataclasses.dataclass(frozen=True, kw_only=True)
class TranslatorSettings(ServiceSettings):
    """Settings of the translator (environment: ``MIZZEN_TRANSLATOR_<FIELD>``)."""

    service_name: str = "translator"
    grpc_port: Annotated[
        int, Setting("Port of the config API (gRPC ConfigService).", minimum=0, maximum=65535)
    ] = DEFAULT_GRPC_PORT
    metrics_port: Annotated[
        int, Setting("Port of /metrics, /healthz and /readyz.", minimum=0, maximum=65535)
    ] = DEFAULT_METRICS_PORT
    store_url: Annotated[
        str, Setting("Where config lives: etcd://host:port[,host:port] or memory://.", shared=True)
    ] = "etcd://127.0.0.1:2379"
    history_limit: Annotated[
        int, Setting("History entries kept per resource (older ones are pruned).", minimum=1)
    ] = 20
    translate: Annotated[
        bool, Setting("Translate config into xDS snapshots (off: serve only the config API).")
    ] = True
    root_namespace: Annotated[
        str, Setting("Istio's root namespace: mesh-wide config lives there.", shared=True)
    ] = "istio-system"
    debounce_quiet_seconds: Annotated[
        float, Setting("Translate once no change came for this long.", minimum=0.0)
    ] = 0.1
    debounce_max_seconds: Annotated[
        float, Setting("Translate at the latest this long after a burst began.", minimum=0.0)
    ] = 1.0
    collect_interval_seconds: Annotated[
        float, Setting("How often to delete resources no snapshot refers to.", minimum=0.01)
    ] = 30.0
    collect_grace_seconds: Annotated[
        float,
        Setting("How long a resource no snapshot refers to stays stored (xds replicas may lag "
                "this long).", minimum=0.0),
    ] = 60.0  # fmt: skip
    class_grace_seconds: Annotated[
        float,
        Setting("A proxy class no proxy was connected to for this long is no longer "
                "translated (its snapshot is deleted; a proxy that comes back asks again).",
                minimum=0.0),
    ] = 600.0  # fmt: skip
    debounce_idle_seconds: Annotated[
        float,
        Setting("A change after this long without translating is translated at once "
                "(0: always wait to be quiet).", minimum=0.0),
    ] = 1.0  # fmt: skip
    election_ttl_seconds: Annotated[
        int,
        Setting(
            "Lease TTL of the translation leader; a dead leader is replaced within it.", minimum=1
        ),
    ] = 5
    replica_id: Annotated[
        str, Setting("This replica's name in the leader election (empty: <hostname>-<pid>).")
    ] = ""
