"""A merged DestinationRule policy and a port's protocol, applied to an Envoy Cluster.

Istio's translation, field by field:

- ``loadBalancer.simple``: ROUND_ROBIN, RANDOM, LEAST_REQUEST (also the default, and what the
  deprecated LEAST_CONN means), PASSTHROUGH (an ORIGINAL_DST cluster); ``consistentHash``:
  RING_HASH (minimum ring size 1024 unless set) or MAGLEV. The hash *key* goes on the
  routes (see :mod:`.route_features`). ``warmup`` (or the older ``warmupDurationSecs``) is
  Envoy's slow start for ROUND_ROBIN and LEAST_REQUEST: new endpoints get a growing share
  of traffic over ``duration``, starting at ``minimumPercent`` (10 unless set), curved by
  ``aggression`` (1.0, linear, unless set). ``localityLbSetting.distribute`` turns on
  locality-weighted balancing (priorities and weights are in the endpoints: :mod:`.locality`);
- ``connectionPool`` as circuit-breaker thresholds (``maxConnections``,
  ``http1MaxPendingRequests``, ``http2MaxRequests``, ``maxRetries``; each unlimited,
  2^32-1, unless set, as Istio does), ``connectTimeout`` (10s by default), TCP keepalive,
  and HTTP protocol options (``idleTimeout``, ``maxRequestsPerConnection``,
  ``maxConnectionDuration``, ``maxConcurrentStreams``, HTTP/2 keepalive); ``retryBudget``
  as the circuit breaker's retry budget (``percent``, ``minRetryConcurrency``; Envoy's
  defaults, 20% and 3, otherwise);
- ``outlierDetection``: consecutive 5xx / gateway / local-origin errors (enforcing 100%),
  interval, base ejection time, max ejection percent; ``minHealthPercent`` is the panic
  threshold; success-rate ejection off;
- the upstream protocol: HTTP/2 (explicit ``http2_protocol_options``) for HTTP2, GRPC and
  GRPC-Web ports and for ``h2UpgradePolicy: UPGRADE``; the client's protocol with
  ``useClientProtocol``; HTTP/1.1 otherwise.

- client TLS (``tls``): TLS origination, see :mod:`.upstream_tls`;
- ``proxyProtocol``: the PROXY protocol header (V1 or V2) sent first on each upstream
  connection (Envoy's upstream proxy-protocol transport socket around the plain or TLS one).
"""

from __future__ import annotations

from typing import Any

from envoy.config.cluster.v3 import circuit_breaker_pb2, cluster_pb2, outlier_detection_pb2
from envoy.config.core.v3 import address_pb2, protocol_pb2, proxy_protocol_pb2
from envoy.extensions.transport_sockets.proxy_protocol.v3 import upstream_proxy_protocol_pb2
from envoy.extensions.transport_sockets.raw_buffer.v3 import raw_buffer_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.type.v3 import percent_pb2

from mizzen.api.networking.traffic_policy import (
    ConnectionPoolSettings,
    HTTPSettings,
    LoadBalancerSettings,
    OutlierDetection,
    ProxyProtocol,
    RetryBudget,
    TCPSettings,
)
from mizzen.envoy import pack
from mizzen.registry import Protocol
from mizzen.translator.domain.generators.policy import ClusterPolicy
from mizzen.translator.domain.generators.upstream_tls import HTTP_PROTOCOL_OPTIONS, apply_client_tls
from mizzen.translator.domain.generators.values import duration

__all__ = [
    "CONNECT_TIMEOUT",
    "HTTP_PROTOCOL_OPTIONS",
    "apply_policy",
    "default_circuit_breakers",
    "http2_options",
    "original_dst",
]

Cluster = cluster_pb2.Cluster
CONNECT_TIMEOUT = "10s"
"""Istio's default ``connectTimeout``."""
_UNLIMITED = 2**32 - 1
_DEFAULT_RING_SIZE = 1024
_SLOW_START_AGGRESSION = "upstream.slow_start_aggression"
"""The runtime key Envoy requires beside the aggression value (never set: the value rules)."""
_PROXY_PROTOCOL_SOCKET = "envoy.transport_sockets.upstream_proxy_protocol"
_RAW_BUFFER_SOCKET = "envoy.transport_sockets.raw_buffer"
_SIMPLE = {
    "ROUND_ROBIN": Cluster.ROUND_ROBIN,
    "RANDOM": Cluster.RANDOM,
    "LEAST_REQUEST": Cluster.LEAST_REQUEST,
    "LEAST_CONN": Cluster.LEAST_REQUEST,
    "UNSPECIFIED": Cluster.LEAST_REQUEST,
}


def default_circuit_breakers() -> Any:
    """Istio's defaults: every limit unlimited, remaining capacity tracked."""
    thresholds = circuit_breaker_pb2.CircuitBreakers.Thresholds(track_remaining=True)
    for name in ("max_connections", "max_pending_requests", "max_requests", "max_retries"):
        getattr(thresholds, name).value = _UNLIMITED
    return circuit_breaker_pb2.CircuitBreakers(thresholds=[thresholds])


def http2_options() -> Any:
    """HTTP protocol options that speak HTTP/2 to the upstream."""
    options = http_protocol_options_pb2.HttpProtocolOptions()
    options.explicit_http_config.http2_protocol_options.SetInParent()
    return options


def _load_balancer(cluster: Any, settings: LoadBalancerSettings | None) -> bool:
    """Set the LB policy; returns False when the cluster must become ORIGINAL_DST."""
    if settings is None:
        cluster.lb_policy = Cluster.LEAST_REQUEST
        return True
    keeps_type = _balancer_kind(cluster, settings)
    _slow_start(cluster, settings)
    locality = settings.locality_lb_setting
    if locality is not None and locality.distribute and locality.enabled is not False:
        # The endpoint groups' weights are the distribution (see .locality).
        cluster.common_lb_config.locality_weighted_lb_config.SetInParent()
    return keeps_type


def _slow_start(cluster: Any, settings: LoadBalancerSettings) -> None:
    warmup = settings.warmup
    window = warmup.duration if warmup is not None else settings.warmup_duration_secs
    if not window:
        return
    if cluster.lb_policy == Cluster.ROUND_ROBIN:
        config = cluster.round_robin_lb_config.slow_start_config
    elif cluster.lb_policy == Cluster.LEAST_REQUEST:
        config = cluster.least_request_lb_config.slow_start_config
    else:
        return  # Envoy's slow start exists for these two balancers only
    config.slow_start_window.CopyFrom(duration(window))
    aggression = warmup.aggression if warmup is not None else None
    config.aggression.default_value = aggression if aggression is not None else 1.0
    config.aggression.runtime_key = _SLOW_START_AGGRESSION
    minimum = warmup.minimum_percent if warmup is not None else None
    config.min_weight_percent.value = minimum if minimum is not None else 10.0


def _balancer_kind(cluster: Any, settings: LoadBalancerSettings) -> bool:
    """Set ``lb_policy`` from ``simple`` or ``consistentHash``; False for PASSTHROUGH."""
    hashing = settings.consistent_hash
    if hashing is not None:
        if hashing.maglev is not None:
            cluster.lb_policy = Cluster.MAGLEV
            if hashing.maglev.table_size:
                cluster.maglev_lb_config.table_size.value = hashing.maglev.table_size
        else:
            cluster.lb_policy = Cluster.RING_HASH
            size = (hashing.ring_hash.minimum_ring_size if hashing.ring_hash else None) or (
                hashing.minimum_ring_size or _DEFAULT_RING_SIZE
            )
            cluster.ring_hash_lb_config.minimum_ring_size.value = size
        return True
    if settings.simple == "PASSTHROUGH":
        return False
    cluster.lb_policy = _SIMPLE.get(settings.simple or "UNSPECIFIED", Cluster.LEAST_REQUEST)
    return True


def _connection_pool(
    cluster: Any,
    pool: ConnectionPoolSettings | None,
    budget: RetryBudget | None,
    protocol: Protocol,
) -> None:
    tcp = pool.tcp if pool is not None else None
    http = pool.http if pool is not None else None
    timeout = tcp.connect_timeout if tcp is not None else None
    cluster.connect_timeout.CopyFrom(duration(timeout or CONNECT_TIMEOUT))
    cluster.circuit_breakers.CopyFrom(default_circuit_breakers())
    thresholds = cluster.circuit_breakers.thresholds[0]
    if tcp is not None:
        _tcp_settings(cluster, thresholds, tcp)
    if budget is not None:
        thresholds.retry_budget.SetInParent()
        if budget.percent is not None:
            thresholds.retry_budget.budget_percent.value = budget.percent
        if budget.min_retry_concurrency is not None:
            thresholds.retry_budget.min_retry_concurrency.value = budget.min_retry_concurrency
    options = http2_options() if protocol.is_http2 else None
    if protocol.is_http and (tcp is not None or http is not None):
        options = _http_settings(thresholds, tcp, http, protocol, options)
    if options is not None:
        cluster.typed_extension_protocol_options[HTTP_PROTOCOL_OPTIONS].CopyFrom(pack(options))


def _tcp_settings(cluster: Any, thresholds: Any, tcp: TCPSettings) -> None:
    if tcp.max_connections:
        thresholds.max_connections.value = tcp.max_connections
    keepalive = tcp.tcp_keepalive
    if keepalive is None:
        return
    socket_keepalive = address_pb2.TcpKeepalive()
    if keepalive.probes:
        socket_keepalive.keepalive_probes.value = keepalive.probes
    if keepalive.time:
        socket_keepalive.keepalive_time.value = _whole_seconds(keepalive.time)
    if keepalive.interval:
        socket_keepalive.keepalive_interval.value = _whole_seconds(keepalive.interval)
    cluster.upstream_connection_options.tcp_keepalive.CopyFrom(socket_keepalive)


def _http_settings(
    thresholds: Any,
    tcp: TCPSettings | None,
    http: HTTPSettings | None,
    protocol: Protocol,
    options: Any,
) -> Any:
    """Circuit-breaker limits and HTTP protocol options; returns the protocol options."""
    common = protocol_pb2.HttpProtocolOptions()
    if tcp is not None and tcp.max_connection_duration:
        common.max_connection_duration.CopyFrom(duration(tcp.max_connection_duration))
    if http is not None:
        for limit, value in (
            (thresholds.max_pending_requests, http.http1_max_pending_requests),
            (thresholds.max_requests, http.http2_max_requests),
            (thresholds.max_retries, http.max_retries),
        ):
            if value:
                limit.value = value
        if http.idle_timeout:
            common.idle_timeout.CopyFrom(duration(http.idle_timeout))
        if http.max_requests_per_connection:
            common.max_requests_per_connection.value = http.max_requests_per_connection
        options = _upstream_protocol(protocol, http.h2_upgrade_policy, http.use_client_protocol)
        h2 = _h2_settings(http.max_concurrent_streams, http.http2_keep_alive)
        if h2 is not None and options.explicit_http_config.HasField("http2_protocol_options"):
            options.explicit_http_config.http2_protocol_options.MergeFrom(h2)
        if h2 is not None and options.HasField("use_downstream_protocol_config"):
            options.use_downstream_protocol_config.http2_protocol_options.MergeFrom(h2)
    if common.ByteSize():
        if options is None:
            options = http_protocol_options_pb2.HttpProtocolOptions()
            options.explicit_http_config.http_protocol_options.SetInParent()
        options.common_http_protocol_options.CopyFrom(common)
    return options


def _upstream_protocol(protocol: Protocol, upgrade: str | None, use_client: bool | None) -> Any:
    options = http_protocol_options_pb2.HttpProtocolOptions()
    if use_client:
        downstream = options.use_downstream_protocol_config
        downstream.http_protocol_options.SetInParent()
        downstream.http2_protocol_options.SetInParent()
    elif protocol.is_http2 or upgrade == "UPGRADE":
        options.explicit_http_config.http2_protocol_options.SetInParent()
    else:
        options.explicit_http_config.http_protocol_options.SetInParent()
    return options


def _h2_settings(max_streams: int | None, keepalive: Any) -> Any:
    if not max_streams and keepalive is None:
        return None
    h2 = protocol_pb2.Http2ProtocolOptions()
    if max_streams:
        h2.max_concurrent_streams.value = max_streams
    if keepalive is not None:
        if keepalive.interval:
            h2.connection_keepalive.interval.CopyFrom(duration(keepalive.interval))
        if keepalive.timeout:
            h2.connection_keepalive.timeout.CopyFrom(duration(keepalive.timeout))
    return h2


def _whole_seconds(text: str) -> int:
    value = duration(text)
    return max(1, value.seconds + (1 if value.nanos else 0))


def _outlier_detection(cluster: Any, outlier: OutlierDetection | None) -> None:
    if outlier is None:
        return
    detection = outlier_detection_pb2.OutlierDetection()
    detection.enforcing_success_rate.value = 0
    five_xx = outlier.consecutive_5xx_errors
    if five_xx is None and outlier.consecutive_errors is not None:
        five_xx = outlier.consecutive_errors  # the deprecated spelling of the same limit
    if five_xx is not None:
        detection.consecutive_5xx.value = five_xx
        detection.enforcing_consecutive_5xx.value = 100 if five_xx > 0 else 0
    if outlier.consecutive_gateway_errors is not None:
        gateway = outlier.consecutive_gateway_errors
        detection.consecutive_gateway_failure.value = gateway
        detection.enforcing_consecutive_gateway_failure.value = 100 if gateway > 0 else 0
        if five_xx is None:
            # Envoy's 5xx detection is on by default; Istio turns it off when only gateway
            # errors are asked for.
            detection.enforcing_consecutive_5xx.value = 0
    if outlier.split_external_local_origin_errors:
        detection.split_external_local_origin_errors = True
        if outlier.consecutive_local_origin_failures is not None:
            detection.consecutive_local_origin_failure.value = (
                outlier.consecutive_local_origin_failures
            )
            detection.enforcing_consecutive_local_origin_failure.value = 100
    if outlier.interval:
        detection.interval.CopyFrom(duration(outlier.interval))
    if outlier.base_ejection_time:
        detection.base_ejection_time.CopyFrom(duration(outlier.base_ejection_time))
    if outlier.max_ejection_percent is not None:
        detection.max_ejection_percent.value = outlier.max_ejection_percent
    cluster.outlier_detection.CopyFrom(detection)
    panic = max(0, outlier.min_health_percent or 0)
    cluster.common_lb_config.healthy_panic_threshold.CopyFrom(percent_pb2.Percent(value=panic))


def apply_policy(cluster: Any, policy: ClusterPolicy, protocol: Protocol) -> bool:
    """Apply ``policy`` and ``protocol`` to ``cluster`` (mutated). Returns False when the
    load balancer is PASSTHROUGH: the caller must make the cluster ORIGINAL_DST."""
    keeps_type = _load_balancer(cluster, policy.load_balancer)
    _connection_pool(cluster, policy.connection_pool, policy.retry_budget, protocol)
    _outlier_detection(cluster, policy.outlier_detection)
    apply_client_tls(cluster, policy.tls, protocol)
    _proxy_protocol(cluster, policy.proxy_protocol)
    return keeps_type


def _proxy_protocol(cluster: Any, settings: ProxyProtocol | None) -> None:
    if settings is None:
        return
    transport = upstream_proxy_protocol_pb2.ProxyProtocolUpstreamTransport()
    transport.config.version = (
        proxy_protocol_pb2.ProxyProtocolConfig.V2
        if settings.version == "V2"
        else proxy_protocol_pb2.ProxyProtocolConfig.V1
    )
    if cluster.HasField("transport_socket"):
        transport.transport_socket.CopyFrom(cluster.transport_socket)
    else:
        transport.transport_socket.name = _RAW_BUFFER_SOCKET
        transport.transport_socket.typed_config.CopyFrom(pack(raw_buffer_pb2.RawBuffer()))
    cluster.transport_socket.Clear()
    cluster.transport_socket.name = _PROXY_PROTOCOL_SOCKET
    cluster.transport_socket.typed_config.CopyFrom(pack(transport))


def original_dst(cluster: Any) -> None:
    """Turn ``cluster`` into Istio's ORIGINAL_DST form (PASSTHROUGH and resolution NONE)."""
    cluster.type = Cluster.ORIGINAL_DST
    cluster.lb_policy = Cluster.CLUSTER_PROVIDED
    for name in ("eds_cluster_config", "ring_hash_lb_config", "maglev_lb_config"):
        cluster.ClearField(name)
