"""Traffic policy messages: connection pools, load balancing, outlier detection, client TLS.

Used by DestinationRule (and Sidecar's inbound connection pool).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from mizzen.api.base import Double, Int32, IstioModel, UInt32
from mizzen.api.networking.common import PortSelector

HttpStatus = Annotated[int, Field(ge=100, le=599)]

__all__ = [
    "ClientTLSSettings",
    "ConnectionPoolSettings",
    "ConsistentHashLB",
    "HTTPCookie",
    "HTTPSettings",
    "LoadBalancerSettings",
    "LocalityLoadBalancerSetting",
    "OutlierDetection",
    "PortTrafficPolicy",
    "ProxyProtocol",
    "RetryBudget",
    "TCPKeepalive",
    "TCPSettings",
    "TrafficPolicy",
    "TunnelSettings",
]


class TCPKeepalive(IstioModel):
    """TCP keepalive probes."""

    probes: UInt32 | None = None
    time: str | None = None
    interval: str | None = None


class TCPSettings(IstioModel):
    """TCP connection pool settings."""

    max_connections: Int32 | None = None
    connect_timeout: str | None = None
    tcp_keepalive: TCPKeepalive | None = None
    max_connection_duration: str | None = None
    idle_timeout: str | None = None


class HTTPKeepAlive(IstioModel):
    """HTTP/2 keepalive pings."""

    interval: str | None = None
    timeout: str | None = None


class HTTPSettings(IstioModel):
    """HTTP connection pool settings."""

    http1_max_pending_requests: Int32 | None = None
    http2_max_requests: Int32 | None = None
    max_requests_per_connection: Int32 | None = None
    max_retries: Int32 | None = None
    idle_timeout: str | None = None
    h2_upgrade_policy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] | None = None
    use_client_protocol: bool | None = None
    max_concurrent_streams: Int32 | None = None
    http2_keep_alive: HTTPKeepAlive | None = None


class ConnectionPoolSettings(IstioModel):
    """Connection pool limits for TCP and HTTP."""

    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None


class CookieAttribute(IstioModel):
    """An attribute of a generated cookie."""

    name: str
    value: str | None = None


class HTTPCookie(IstioModel):
    """A cookie used as the hash key."""

    name: str
    path: str | None = None
    ttl: str | None = None
    attributes: list[CookieAttribute] | None = None


class RingHash(IstioModel):
    """Ring hash settings."""

    minimum_ring_size: int | None = Field(default=None, ge=0)


class MagLev(IstioModel):
    """Maglev settings."""

    table_size: int | None = Field(default=None, ge=0)


class ConsistentHashLB(IstioModel):
    """Consistent hashing: one hash key and at most one of ringHash or maglev."""

    http_header_name: str | None = None
    http_cookie: HTTPCookie | None = None
    use_source_ip: bool | None = None
    http_query_parameter_name: str | None = None
    ring_hash: RingHash | None = None
    maglev: MagLev | None = None
    minimum_ring_size: int | None = Field(default=None, ge=0)


class LocalityDistribute(IstioModel):
    """Share of traffic from one locality to others."""

    from_: str | None = None
    to: dict[str, UInt32] | None = None


class LocalityFailover(IstioModel):
    """Failover from one region to another."""

    from_: str | None = None
    to: str | None = None


class LocalityLoadBalancerSetting(IstioModel):
    """Locality-weighted load balancing."""

    distribute: list[LocalityDistribute] | None = None
    failover: list[LocalityFailover] | None = None
    failover_priority: list[str] | None = None
    enabled: bool | None = None


class ZoneAwareLoadBalancerSetting(IstioModel):
    """Zone-aware load balancing."""

    enabled: bool | None = None
    failover: list[LocalityFailover] | None = None
    failover_priority: list[str] | None = None
    min_cluster_size: int | None = Field(default=None, ge=1)


class WarmupConfiguration(IstioModel):
    """Slow start of new endpoints."""

    duration: str
    minimum_percent: Double | None = Field(default=None, ge=0, le=100)
    aggression: Double | None = Field(default=None, ge=0)


class LoadBalancerSettings(IstioModel):
    """Load balancing: one of simple or consistentHash."""

    simple: (
        Literal[
            "UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"
        ]
        | None
    ) = None
    consistent_hash: ConsistentHashLB | None = None
    locality_lb_setting: LocalityLoadBalancerSetting | None = None
    warmup_duration_secs: str | None = None
    warmup: WarmupConfiguration | None = None
    zone_aware_lb_setting: ZoneAwareLoadBalancerSetting | None = None


class OutlierDetection(IstioModel):
    """Ejection of unhealthy hosts."""

    consecutive_errors: Int32 | None = None
    split_external_local_origin_errors: bool | None = None
    consecutive_local_origin_failures: UInt32 | None = None
    consecutive_gateway_errors: UInt32 | None = None
    consecutive_5xx_errors: UInt32 | None = None
    interval: str | None = None
    base_ejection_time: str | None = None
    max_ejection_percent: Int32 | None = None
    min_health_percent: Int32 | None = None
    outlier_detection_http_error_codes: list[HttpStatus] | None = None


class ClientTLSSettings(IstioModel):
    """TLS settings for connections to upstream services."""

    mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] | None = None
    client_certificate: str | None = None
    private_key: str | None = None
    ca_certificates: str | None = None
    credential_name: str | None = None
    subject_alt_names: list[str] | None = None
    sni: str | None = None
    insecure_skip_verify: bool | None = None
    ca_crl: str | None = None


class PortTrafficPolicy(IstioModel):
    """Traffic policy for one port."""

    port: PortSelector | None = None
    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None


class TunnelSettings(IstioModel):
    """Tunnelling TCP over HTTP CONNECT or POST."""

    protocol: str | None = None
    target_host: str
    target_port: UInt32


class ProxyProtocol(IstioModel):
    """PROXY protocol version sent upstream."""

    version: Literal["V1", "V2"] | None = None


class RetryBudget(IstioModel):
    """Limit on concurrent retries."""

    percent: Double | None = Field(default=None, ge=0, le=100)
    min_retry_concurrency: UInt32 | None = None
    budget_interval: str | None = None


class TrafficPolicy(IstioModel):
    """Policies applied to traffic to a service (or subset)."""

    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None
    port_level_settings: list[PortTrafficPolicy] | None = Field(default=None, max_length=4096)
    tunnel: TunnelSettings | None = None
    proxy_protocol: ProxyProtocol | None = None
    retry_budget: RetryBudget | None = None
