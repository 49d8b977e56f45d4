"""CDS: outbound clusters per service port and subset, inbound clusters, and the special ones.

Names are Istio's: ``outbound|9080||reviews.default.svc.cluster.local`` for a service port,
``outbound|9080|v1|reviews...`` for a DestinationRule subset, ``inbound|9080||`` for a port the
proxy's workload serves, and ``BlackHoleCluster``, ``PassthroughCluster``,
``InboundPassthroughCluster``.

A service's resolution decides the cluster type: STATIC services are EDS clusters fed over
ADS (their endpoints are in the EDS set); DNS and DNS_ROUND_ROBIN services are STRICT_DNS and
LOGICAL_DNS clusters with their endpoints inline (their own set, since endpoints change
them); resolution NONE, and ``loadBalancer.simple: PASSTHROUGH``, give ORIGINAL_DST clusters.

``PassthroughCluster`` is Istio's ORIGINAL_DST cluster in capture mode. In local mode a
request arrives at the HTTP-proxy listener in absolute form, so the original destination is
the proxy itself; there ``PassthroughCluster`` is an Envoy dynamic forward proxy cluster that
resolves the request's host (the listener's dynamic forward proxy filter shares its DNS
cache configuration, :func:`dns_cache_config`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.extensions.clusters.dynamic_forward_proxy.v3 import (
    cluster_pb2 as dfp_cluster_pb2,
)
from envoy.extensions.common.dynamic_forward_proxy.v3 import dns_cache_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

from mizzen.envoy import (
    BLACKHOLE_CLUSTER,
    INBOUND_PASSTHROUGH_CLUSTER,
    PASSTHROUGH_CLUSTER,
    inbound_cluster_name,
    outbound_cluster_name,
    pack,
)
from mizzen.registry import Protocol, Resolution, Service
from mizzen.snapshots import InboundPort
from mizzen.translator.domain.generators.cluster_settings import (
    CONNECT_TIMEOUT,
    HTTP_PROTOCOL_OPTIONS,
    apply_policy,
    default_circuit_breakers,
    http2_options,
    original_dst,
)
from mizzen.translator.domain.generators.endpoints import load_assignment, select_endpoints
from mizzen.translator.domain.generators.errors import blame
from mizzen.translator.domain.generators.locality import balancing_for
from mizzen.translator.domain.generators.policy import ClusterPolicy, cluster_policy
from mizzen.translator.domain.generators.values import ads_config_source, duration, socket_address
from mizzen.translator.domain.generators.view import ProxyView
from mizzen.translator.domain.mesh_config import resource_id

__all__ = [
    "DFP_CACHE",
    "ClusterKind",
    "ClusterSpec",
    "dns_cache_config",
    "dns_clusters",
    "inbound_clusters",
    "outbound_cluster_specs",
    "outbound_clusters",
    "special_clusters",
]

Cluster = cluster_pb2.Cluster
DFP_CACHE = "mizzen_dynamic_forward_proxy"
"""The DNS cache shared by the local-mode PassthroughCluster and the proxy listener's filter."""
INBOUND_PASSTHROUGH_SOURCE = "127.0.0.6"
"""Istio binds inbound passthrough connections to this address, so the app's own iptables
rules can tell them apart."""
APP_ADDRESS = "127.0.0.1"
"""Where an inbound cluster reaches the workload's app."""


class ClusterKind:
    """How an outbound cluster finds its endpoints."""

    EDS = "eds"
    DNS = "dns"
    ORIGINAL_DST = "original_dst"


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """One outbound cluster to build: the service port, the subset (``""`` for none) and its
    labels, the merged DestinationRule policy, and how its endpoints are found."""

    name: str
    service: Service
    port: int
    protocol: Protocol
    subset: str
    subset_labels: Mapping[str, str] | None
    policy: ClusterPolicy
    kind: str
    rule: str = ""
    """The DestinationRule the policy comes from (``Kind/ns/name``), ``""`` without one."""


def _kind(service: Service, policy: ClusterPolicy) -> str:
    if service.resolution is Resolution.NONE:
        return ClusterKind.ORIGINAL_DST
    if policy.load_balancer is not None and policy.load_balancer.simple == "PASSTHROUGH":
        return ClusterKind.ORIGINAL_DST
    if service.resolution in (Resolution.DNS, Resolution.DNS_ROUND_ROBIN):
        return ClusterKind.DNS
    return ClusterKind.EDS


def outbound_cluster_specs(view: ProxyView) -> Iterator[ClusterSpec]:
    """Every outbound cluster of ``view``: each port of each visible service, then each
    subset of its DestinationRule, in hostname and port order."""
    for service in view.services:
        rule = view.destination_rule(service.hostname)
        subsets: list[tuple[str, Mapping[str, str] | None]] = [("", None)]
        if rule is not None:
            subsets += [(s.name, s.labels) for s in rule.spec.subsets or ()]
        for port in sorted(service.ports, key=lambda p: p.number):
            for subset, labels in subsets:
                with blame(resource_id(rule) if rule is not None else ""):
                    policy = cluster_policy(rule, port.number, subset)
                yield ClusterSpec(
                    name=outbound_cluster_name(service.hostname, port.number, subset),
                    service=service,
                    port=port.number,
                    protocol=port.protocol,
                    subset=subset,
                    subset_labels=labels,
                    policy=policy,
                    kind=_kind(service, policy),
                    rule=resource_id(rule) if rule is not None else "",
                )


def _outbound_cluster(spec: ClusterSpec) -> Any:
    cluster = Cluster(name=spec.name)
    with blame(spec.rule):
        keeps_type = apply_policy(cluster, spec.policy, spec.protocol)
    if spec.kind == ClusterKind.ORIGINAL_DST or not keeps_type:
        original_dst(cluster)
    elif spec.kind == ClusterKind.EDS:
        cluster.type = Cluster.EDS
        cluster.eds_cluster_config.service_name = spec.name
        cluster.eds_cluster_config.eds_config.CopyFrom(ads_config_source())
    return cluster


def outbound_clusters(view: ProxyView) -> Iterator[Any]:
    """The EDS and ORIGINAL_DST outbound clusters (DNS ones are :func:`dns_clusters`)."""
    for spec in outbound_cluster_specs(view):
        if spec.kind != ClusterKind.DNS:
            yield _outbound_cluster(spec)


def dns_clusters(view: ProxyView) -> Iterator[Any]:
    """STRICT_DNS / LOGICAL_DNS clusters, their endpoints inline: the registry's endpoints
    (addresses may be host names), else the service's own hostname and port."""
    for spec in outbound_cluster_specs(view):
        if spec.kind != ClusterKind.DNS:
            continue
        cluster = _outbound_cluster(spec)
        round_robin = spec.service.resolution is Resolution.DNS_ROUND_ROBIN
        cluster.type = Cluster.LOGICAL_DNS if round_robin else Cluster.STRICT_DNS
        cluster.dns_lookup_family = Cluster.V4_ONLY
        cluster.respect_dns_ttl = True
        selected = select_endpoints(view.registry, spec.service, spec.port, spec.subset_labels)
        if round_robin:
            selected = selected[:1]  # LOGICAL_DNS takes exactly one address to resolve
        assignment = load_assignment(spec.name, selected, balancing_for(spec.policy, view.place))
        if not selected:
            group = assignment.endpoints.add()
            lb = group.lb_endpoints.add()
            lb.endpoint.address.CopyFrom(socket_address(spec.service.hostname, spec.port))
            group.load_balancing_weight.value = 1
        cluster.load_assignment.CopyFrom(assignment)
        yield cluster


def dns_cache_config() -> Any:
    """The DNS cache of the dynamic forward proxy (cluster and filter must agree on it)."""
    return dns_cache_pb2.DnsCacheConfig(name=DFP_CACHE, dns_lookup_family=Cluster.V4_PREFERRED)


def _passthrough_protocols() -> Any:
    options = http_protocol_options_pb2.HttpProtocolOptions()
    downstream = options.use_downstream_protocol_config
    downstream.http_protocol_options.SetInParent()
    downstream.http2_protocol_options.SetInParent()
    return pack(options)


def _original_dst_cluster(name: str) -> Any:
    cluster = Cluster(name=name, type=Cluster.ORIGINAL_DST, lb_policy=Cluster.CLUSTER_PROVIDED)
    cluster.connect_timeout.CopyFrom(duration(CONNECT_TIMEOUT))
    cluster.circuit_breakers.CopyFrom(default_circuit_breakers())
    cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(
        _passthrough_protocols()
    )
    return cluster


def special_clusters(local_mode: bool) -> list[Any]:
    """``BlackHoleCluster`` and ``PassthroughCluster`` (a dynamic forward proxy in local
    mode, ORIGINAL_DST in capture mode, where ``InboundPassthroughCluster`` joins them)."""
    blackhole = Cluster(name=BLACKHOLE_CLUSTER, type=Cluster.STATIC)
    blackhole.connect_timeout.CopyFrom(duration(CONNECT_TIMEOUT))
    blackhole.load_assignment.cluster_name = BLACKHOLE_CLUSTER
    if local_mode:
        passthrough = Cluster(name=PASSTHROUGH_CLUSTER, lb_policy=Cluster.CLUSTER_PROVIDED)
        passthrough.connect_timeout.CopyFrom(duration(CONNECT_TIMEOUT))
        passthrough.circuit_breakers.CopyFrom(default_circuit_breakers())
        passthrough.cluster_type.name = "envoy.clusters.dynamic_forward_proxy"
        passthrough.cluster_type.typed_config.CopyFrom(
            pack(dfp_cluster_pb2.ClusterConfig(dns_cache_config=dns_cache_config()))
        )
        return [blackhole, passthrough]
    inbound = _original_dst_cluster(INBOUND_PASSTHROUGH_CLUSTER)
    inbound.upstream_bind_config.source_address.address = INBOUND_PASSTHROUGH_SOURCE
    inbound.upstream_bind_config.source_address.port_value = 0
    return [blackhole, _original_dst_cluster(PASSTHROUGH_CLUSTER), inbound]


def inbound_clusters(ports: tuple[InboundPort, ...]) -> Iterator[Any]:
    """``inbound|<port>||`` for each port the workload serves: STATIC, to the app at
    ``127.0.0.1:<target port>``, HTTP/2 for HTTP2/gRPC ports."""
    for port in ports:
        name = inbound_cluster_name(port.port)
        cluster = Cluster(name=name, type=Cluster.STATIC, lb_policy=Cluster.ROUND_ROBIN)
        cluster.connect_timeout.CopyFrom(duration(CONNECT_TIMEOUT))
        cluster.circuit_breakers.CopyFrom(default_circuit_breakers())
        cluster.load_assignment.cluster_name = name
        lb = cluster.load_assignment.endpoints.add().lb_endpoints.add()
        lb.endpoint.address.CopyFrom(socket_address(APP_ADDRESS, port.target_port))
        if port.protocol.is_http2:
            cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(
                pack(http2_options())
            )
        yield cluster
