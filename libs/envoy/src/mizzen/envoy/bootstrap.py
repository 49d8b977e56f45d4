"""Envoy's bootstrap for a Mizzen proxy: who it is, where its control plane is, how it runs.

The node follows Istio's conventions (node id ``sidecar~ip~pod.ns~ns.svc.cluster.local``,
``cluster`` = ``<app>.<namespace>``, metadata keys ``NAMESPACE``, ``LABELS``,
``SERVICE_ACCOUNT``, ``CLUSTER_ID``, ``NETWORK``...), plus Mizzen's ``MIZZEN_VERSION`` (in
place of ``ISTIO_VERSION``) and ``LOCAL_ADDRESS`` (the loopback address the workload owns in
local interception). Everything else comes over one ADS stream to the ``xds-grpc`` cluster.

Choices made here, and why:

- ``initial_fetch_timeout`` of CDS and LDS defaults to **0 (wait for the control plane)**, as
  Istio does. With a finite timeout Envoy declares itself LIVE (``/ready`` 200) with no
  listeners once the timeout passes, so "ready" would no longer mean "has its config", and
  an agent that starts the app once Envoy is ready would start it in front of a proxy that
  refuses every connection. With 0, Envoy stays ``PRE_INITIALIZING`` until the first CDS
  and LDS answers arrive, however late. A caller that needs Envoy live without a control
  plane (a test pointing ADS at a closed port) sets a small positive value.
- ``xds-grpc`` lists every xds replica as an endpoint of one round-robin cluster: when a
  stream breaks, Envoy reconnects (backoff from ``xds_reconnect_base`` up to
  ``xds_reconnect_max``, jittered, instead of Envoy's 0.5 s..30 s) and the next attempt goes
  to the next replica. HTTP/2 PING keepalive detects a replica that vanished without closing
  the connection; TCP keepalive covers the socket below.
- ``set_node_on_first_message_only``: the node (with all its metadata) travels once per stream.
- An overload-manager ``global_downstream_max_connections`` monitor: a ceiling on downstream
  connections across all listeners, below common open-file limits, which also silences
  Envoy's start-up warning about having none.
- Stats: Envoy's default tags, and optionally an inclusion list of stat-name prefixes.
  Every stat is kept by default because Mizzen's tests and debugging verbs read per-cluster
  and per-listener counters. Known limit: Envoy's default ``envoy.cluster_name`` tag ends at
  the first dot, so in ``/stats/prometheus`` a cluster named
  ``outbound|9080||reviews.default.svc.cluster.local`` is labelled ``outbound|9080||reviews``.
  A custom tag cannot replace it (Envoy applies the default tags first and skips a later
  duplicate), and dropping the defaults mangles every other stat, so read per-cluster stats
  from ``/stats`` (full names), or give clusters an ``alt_stat_name``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import metadata as package_metadata
from types import MappingProxyType
from typing import Any

from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.extensions.resource_monitors.downstream_connections.v3 import (
    downstream_connections_pb2,
)
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from mizzen.envoy.names import NodeId
from mizzen.envoy.types import type_url_of

__all__ = [
    "XDS_CLUSTER",
    "AdsMode",
    "BootstrapConfig",
    "InterceptionMode",
    "Locality",
    "ProxyMetadata",
    "XdsServerAddress",
    "bootstrap_message",
    "build_bootstrap",
    "mizzen_version",
    "service_cluster",
]

XDS_CLUSTER = "xds-grpc"
"""The static cluster that carries the ADS stream (Istio's name for it)."""

_CANONICAL_NAME_LABEL = "service.istio.io/canonical-name"


def mizzen_version() -> str:
    """The installed version of this package, used as ``MIZZEN_VERSION`` by default."""
    try:
        return package_metadata.version("mizzen-envoy")
    except package_metadata.PackageNotFoundError:  # running from a source tree
        return "0.0.0"


class AdsMode(StrEnum):
    """The ADS flavour, as Envoy's ``ApiConfigSource.api_type`` spells it."""

    STATE_OF_THE_WORLD = "GRPC"
    DELTA = "DELTA_GRPC"


class InterceptionMode(StrEnum):
    """Istio's ``INTERCEPTION_MODE``: how traffic reaches the proxy. ``NONE`` is Mizzen's local
    mode (own loopback address, explicit HTTP proxy); the others are Kubernetes capture."""

    REDIRECT = "REDIRECT"
    TPROXY = "TPROXY"
    NONE = "NONE"


@dataclass(frozen=True, slots=True)
class XdsServerAddress:
    """One xds replica: a host (IP literal or DNS name) and port."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class Locality:
    """Where the proxy runs (``node.locality``), for locality-aware load balancing."""

    region: str = ""
    zone: str = ""
    sub_zone: str = ""


@dataclass(frozen=True, slots=True)
class ProxyMetadata:
    """``node.metadata``: the facts about a proxy that translation depends on.

    Fields:
        namespace: ``NAMESPACE``, the workload's namespace.
        labels: ``LABELS``, the workload's labels (a copy is kept).
        service_account: ``SERVICE_ACCOUNT``, the workload's service account name.
        cluster_id: ``CLUSTER_ID``, the registry cluster the workload belongs to
            (``Kubernetes`` is Istio's default name for the local cluster).
        network: ``NETWORK``, the mesh network (omitted when empty).
        interception_mode: ``INTERCEPTION_MODE``.
        local_address: ``LOCAL_ADDRESS`` (Mizzen): the workload's own loopback address
            in local interception (omitted when empty).
        mizzen_version: ``MIZZEN_VERSION`` (Mizzen's ``ISTIO_VERSION``).
        workload_name: ``WORKLOAD_NAME``, the workload (deployment) name (omitted when empty).
        instance_ips: ``INSTANCE_IPS``, every address of the workload, comma-separated
            (omitted when empty).
        mesh_id: ``MESH_ID`` (omitted when empty).
        extra: further string keys, written as given; they cannot replace the keys above.
    """

    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    service_account: str = "default"
    cluster_id: str = "Kubernetes"
    network: str = ""
    interception_mode: InterceptionMode = InterceptionMode.NONE
    local_address: str = ""
    mizzen_version: str = field(default_factory=mizzen_version)
    workload_name: str = ""
    instance_ips: tuple[str, ...] = ()
    mesh_id: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def to_dict(self, *, name: str = "") -> dict[str, Any]:
        """The metadata as JSON-ready values (``LABELS`` a nested object, the rest strings).
        ``name`` is Istio's ``NAME`` (the pod name), added when given."""
        values: dict[str, Any] = dict(self.extra)
        values.update(
            {
                "NAMESPACE": self.namespace,
                "LABELS": dict(self.labels),
                "SERVICE_ACCOUNT": self.service_account,
                "CLUSTER_ID": self.cluster_id,
                "INTERCEPTION_MODE": str(self.interception_mode),
                "MIZZEN_VERSION": self.mizzen_version,
            }
        )
        optional = {
            "NAME": name,
            "NETWORK": self.network,
            "LOCAL_ADDRESS": self.local_address,
            "WORKLOAD_NAME": self.workload_name,
            "INSTANCE_IPS": ",".join(self.instance_ips),
            "MESH_ID": self.mesh_id,
        }
        values.update({key: value for key, value in optional.items() if value})
        return values


def service_cluster(labels: Mapping[str, str], fallback: str, namespace: str) -> str:
    """Istio's ``node.cluster``: ``<canonical name>.<namespace>``, the canonical name being
    the ``service.istio.io/canonical-name`` label, else ``app``, else ``fallback``."""
    name = labels.get(_CANONICAL_NAME_LABEL) or labels.get("app") or fallback
    return f"{name}.{namespace}"


@dataclass(frozen=True, slots=True)
class BootstrapConfig:
    """Everything that goes into one proxy's bootstrap. Durations are in seconds.

    Fields:
        node_id: the proxy's node id (Istio's format).
        metadata: ``node.metadata``.
        xds_servers: every xds replica to connect to (at least one).
        admin_port / admin_address: where Envoy's admin interface listens.
        service_cluster: ``node.cluster``; derived with :func:`service_cluster` when empty.
        locality: ``node.locality``, when known.
        ads_mode: state-of-the-world (``GRPC``) or delta (``DELTA_GRPC``).
        initial_fetch_timeout: CDS/LDS initial fetch timeout; 0 waits for the control plane
            (see the module docstring for why that is the default).
        xds_connect_timeout: TCP connect timeout to a replica.
        xds_keepalive_interval / xds_keepalive_timeout: HTTP/2 PING on the ADS connection.
        xds_reconnect_base / xds_reconnect_max: backoff between ADS reconnection attempts.
        max_downstream_connections: the overload manager's global downstream limit.
        stats_prefixes: when set, only stats whose names start with one of these are kept
            (``None`` keeps every stat; tests and the translator's features need them).
        static_clusters / static_listeners: further static resources (e.g. an ``sds-grpc``
            cluster on the agent's Unix socket), as messages.
    """

    node_id: NodeId
    metadata: ProxyMetadata
    xds_servers: Sequence[XdsServerAddress]
    admin_port: int
    admin_address: str = "127.0.0.1"
    service_cluster: str = ""
    locality: Locality | None = None
    ads_mode: AdsMode = AdsMode.STATE_OF_THE_WORLD
    initial_fetch_timeout: float = 0.0
    xds_connect_timeout: float = 1.0
    xds_keepalive_interval: float = 30.0
    xds_keepalive_timeout: float = 10.0
    xds_reconnect_base: float = 0.1
    xds_reconnect_max: float = 5.0
    max_downstream_connections: int = 50_000
    stats_prefixes: Sequence[str] | None = None
    static_clusters: Sequence[Message] = ()
    static_listeners: Sequence[Message] = ()

    def __post_init__(self) -> None:
        # Keep copies, so that the caller's lists cannot change a config after the fact.
        for name in ("xds_servers", "static_clusters", "static_listeners"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.stats_prefixes is not None:
            object.__setattr__(self, "stats_prefixes", tuple(self.stats_prefixes))
        if not self.xds_servers:
            raise ValueError("BootstrapConfig needs at least one xds server")
        if self.initial_fetch_timeout < 0:
            raise ValueError("initial_fetch_timeout must be >= 0 (0 waits forever)")


def _duration(seconds: float) -> str:
    # JSON Duration: decimal seconds with an "s"; protobuf accepts up to nanoseconds.
    return f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _to_dict(message: Message) -> dict[str, Any]:
    result: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return result


def _xds_cluster(config: BootstrapConfig) -> dict[str, Any]:
    http2 = {
        "connection_keepalive": {
            "interval": _duration(config.xds_keepalive_interval),
            "timeout": _duration(config.xds_keepalive_timeout),
        }
    }
    protocol_options = http_protocol_options_pb2.HttpProtocolOptions
    cluster: dict[str, Any] = {
        "name": XDS_CLUSTER,
        "type": "STATIC" if all(_is_ip(s.host) for s in config.xds_servers) else "STRICT_DNS",
        "connect_timeout": _duration(config.xds_connect_timeout),
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": type_url_of(protocol_options()),
                "explicit_http_config": {"http2_protocol_options": http2},
            }
        },
        "upstream_connection_options": {"tcp_keepalive": {"keepalive_time": 300}},
        "load_assignment": {
            "cluster_name": XDS_CLUSTER,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {
                            "endpoint": {
                                "address": {
                                    "socket_address": {"address": s.host, "port_value": s.port}
                                }
                            }
                        }
                        for s in config.xds_servers
                    ]
                }
            ],
        },
    }
    if cluster["type"] == "STRICT_DNS":
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    return cluster


def _stats_config(config: BootstrapConfig) -> dict[str, Any]:
    stats: dict[str, Any] = {"use_all_default_tags": True}
    if config.stats_prefixes is not None:
        stats["stats_matcher"] = {
            "inclusion_list": {"patterns": [{"prefix": p} for p in config.stats_prefixes]}
        }
    return stats


def _bootstrap_dict(config: BootstrapConfig) -> dict[str, Any]:
    node_id = config.node_id
    node: dict[str, Any] = {
        "id": str(node_id),
        "cluster": config.service_cluster
        or service_cluster(config.metadata.labels, node_id.workload_name, node_id.namespace),
        "metadata": config.metadata.to_dict(name=node_id.workload_name),
    }
    if config.locality is not None:
        locality = {
            "region": config.locality.region,
            "zone": config.locality.zone,
            "sub_zone": config.locality.sub_zone,
        }
        node["locality"] = {key: value for key, value in locality.items() if value}
    ads_source = {
        "ads": {},
        "initial_fetch_timeout": _duration(config.initial_fetch_timeout),
        "resource_api_version": "V3",
    }
    backoff = {
        "base_interval": _duration(config.xds_reconnect_base),
        "max_interval": _duration(config.xds_reconnect_max),
    }
    monitor = downstream_connections_pb2.DownstreamConnectionsConfig
    return {
        "node": node,
        "admin": {
            "address": {
                "socket_address": {
                    "address": config.admin_address,
                    "port_value": config.admin_port,
                }
            }
        },
        "dynamic_resources": {
            "ads_config": {
                "api_type": str(config.ads_mode),
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [
                    {
                        "envoy_grpc": {
                            "cluster_name": XDS_CLUSTER,
                            "retry_policy": {"retry_back_off": backoff},
                        }
                    }
                ],
            },
            "cds_config": ads_source,
            "lds_config": dict(ads_source),
        },
        "static_resources": {
            "clusters": [_xds_cluster(config), *map(_to_dict, config.static_clusters)],
            "listeners": [*map(_to_dict, config.static_listeners)],
        },
        "stats_config": _stats_config(config),
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": type_url_of(monitor()),
                        "max_active_downstream_connections": config.max_downstream_connections,
                    },
                }
            ]
        },
    }


def bootstrap_message(config: BootstrapConfig) -> Message:
    """The bootstrap as an ``envoy.config.bootstrap.v3.Bootstrap`` message (a new object).

    Raises ``google.protobuf.json_format.ParseError`` only on a programming error here or a
    bad static resource from the caller."""
    message: Message = bootstrap_pb2.Bootstrap()
    json_format.ParseDict(_bootstrap_dict(config), message)
    return message


def build_bootstrap(config: BootstrapConfig) -> dict[str, Any]:
    """The bootstrap as a JSON-ready dict (proto field names; durations as ``"1s"``), ready
    for ``json.dumps`` or :class:`mizzen.launcher.EnvoyProcess`. A new dict on every call;
    the caller owns it. It went through the Bootstrap message, so every field name is
    checked against Envoy's schema."""
    return _to_dict(bootstrap_message(config))
