"""Rules for traffic policies (DestinationRule, Sidecar connection pools)."""

from __future__ import annotations

from mizzen.api.hosts import check_fqdn, is_ip
from mizzen.api.networking.traffic_policy import (
    ClientTLSSettings,
    ConnectionPoolSettings,
    LoadBalancerSettings,
    LocalityLoadBalancerSetting,
    OutlierDetection,
    TrafficPolicy,
    TunnelSettings,
)
from mizzen.api.rules.common import check_duration_at, check_port, count_set
from mizzen.api.rules.issues import Issues

__all__ = ["check_connection_pool", "check_traffic_policy"]


def check_traffic_policy(policy: TrafficPolicy, path: str, out: Issues) -> None:
    """A traffic policy must set something; each part is checked."""
    if policy.model_fields_set == set():
        out.add(path, "traffic policy must set at least one field")
    if policy.load_balancer is not None:
        _check_load_balancer(policy.load_balancer, f"{path}.loadBalancer", out)
    if policy.connection_pool is not None:
        check_connection_pool(policy.connection_pool, f"{path}.connectionPool", out)
    if policy.outlier_detection is not None:
        _check_outlier_detection(policy.outlier_detection, f"{path}.outlierDetection", out)
    if policy.tls is not None:
        _check_client_tls(policy.tls, f"{path}.tls", out)
    if policy.tunnel is not None:
        _check_tunnel(policy.tunnel, f"{path}.tunnel", out)
    if policy.retry_budget is not None and policy.retry_budget.budget_interval is not None:
        check_duration_at(
            policy.retry_budget.budget_interval, f"{path}.retryBudget.budgetInterval", out
        )
    _check_port_level(policy, path, out)


def _check_port_level(policy: TrafficPolicy, path: str, out: Issues) -> None:
    seen: set[int] = set()
    for i, port_policy in enumerate(policy.port_level_settings or ()):
        where = f"{path}.portLevelSettings[{i}]"
        number = port_policy.port.number if port_policy.port is not None else None
        if number is None:
            out.add(f"{where}.port", "port-level settings need port.number")
        else:
            check_port(number, f"{where}.port.number", out)
            if number in seen:
                out.add(f"{where}.port.number", f"port {number} already has port-level settings")
            seen.add(number)
        if port_policy.load_balancer is not None:
            _check_load_balancer(port_policy.load_balancer, f"{where}.loadBalancer", out)
        if port_policy.connection_pool is not None:
            check_connection_pool(port_policy.connection_pool, f"{where}.connectionPool", out)
        if port_policy.outlier_detection is not None:
            _check_outlier_detection(
                port_policy.outlier_detection, f"{where}.outlierDetection", out
            )
        if port_policy.tls is not None:
            _check_client_tls(port_policy.tls, f"{where}.tls", out)


def check_connection_pool(pool: ConnectionPoolSettings, path: str, out: Issues) -> None:
    """Limits must not be negative; timeouts are durations of at least 1ms."""
    if pool.tcp is None and pool.http is None:
        out.add(path, "connection pool must set tcp or http")
    tcp = pool.tcp
    if tcp is not None:
        if tcp.max_connections is not None and tcp.max_connections < 0:
            out.add(f"{path}.tcp.maxConnections", "maxConnections must be >= 0")
        check_duration_at(tcp.connect_timeout, f"{path}.tcp.connectTimeout", out)
        check_duration_at(tcp.max_connection_duration, f"{path}.tcp.maxConnectionDuration", out)
        check_duration_at(tcp.idle_timeout, f"{path}.tcp.idleTimeout", out, minimum_ms=None)
        if tcp.tcp_keepalive is not None:
            check_duration_at(tcp.tcp_keepalive.time, f"{path}.tcp.tcpKeepalive.time", out)
            check_duration_at(tcp.tcp_keepalive.interval, f"{path}.tcp.tcpKeepalive.interval", out)
    http = pool.http
    if http is not None:
        for field, value in (
            ("http1MaxPendingRequests", http.http1_max_pending_requests),
            ("http2MaxRequests", http.http2_max_requests),
            ("maxRequestsPerConnection", http.max_requests_per_connection),
            ("maxRetries", http.max_retries),
            ("maxConcurrentStreams", http.max_concurrent_streams),
        ):
            if value is not None and value < 0:
                out.add(f"{path}.http.{field}", f"{field} must be >= 0")
        check_duration_at(http.idle_timeout, f"{path}.http.idleTimeout", out)
        if http.http2_keep_alive is not None:
            check_duration_at(
                http.http2_keep_alive.interval, f"{path}.http.http2KeepAlive.interval", out
            )
            check_duration_at(
                http.http2_keep_alive.timeout, f"{path}.http.http2KeepAlive.timeout", out
            )
        if http.use_client_protocol and http.h2_upgrade_policy == "UPGRADE":
            out.add(
                f"{path}.http.useClientProtocol",
                "useClientProtocol must not be true when h2UpgradePolicy is UPGRADE",
            )


def _check_load_balancer(lb: LoadBalancerSettings, path: str, out: Issues) -> None:
    if count_set(lb.simple, lb.consistent_hash) > 1:
        out.add(path, "set only one of simple and consistentHash")
    ch = lb.consistent_hash
    if ch is not None:
        where = f"{path}.consistentHash"
        if (
            count_set(
                ch.http_header_name, ch.http_cookie, ch.use_source_ip, ch.http_query_parameter_name
            )
            > 1
        ):
            out.add(
                where,
                "set only one of httpHeaderName, httpCookie, useSourceIp and "
                "httpQueryParameterName",
            )
        if count_set(ch.ring_hash, ch.maglev) > 1:
            out.add(where, "set only one of ringHash and maglev")
        if ch.http_cookie is not None:
            if not ch.http_cookie.name:
                out.add(f"{where}.httpCookie.name", "cookie name must not be empty")
            check_duration_at(ch.http_cookie.ttl, f"{where}.httpCookie.ttl", out, minimum_ms=None)
    if lb.locality_lb_setting is not None:
        _check_locality(lb.locality_lb_setting, f"{path}.localityLbSetting", out)
    check_duration_at(lb.warmup_duration_secs, f"{path}.warmupDurationSecs", out)
    if lb.warmup is not None:
        check_duration_at(lb.warmup.duration, f"{path}.warmup.duration", out)


def _check_locality(setting: LocalityLoadBalancerSetting, path: str, out: Issues) -> None:
    if setting.distribute and setting.failover:
        out.add(path, "set only one of distribute and failover")
    for i, rule in enumerate(setting.distribute or ()):
        where = f"{path}.distribute[{i}]"
        if not rule.from_:
            out.add(f"{where}.from", "distribute needs a source locality in from")
        total = sum((rule.to or {}).values())
        if total != 100:
            out.add(f"{where}.to", f"weights add up to {total}: they must add up to 100")
    for i, failover in enumerate(setting.failover or ()):
        where = f"{path}.failover[{i}]"
        if not failover.from_ or not failover.to:
            out.add(where, "failover needs both from and to regions")
        elif failover.from_ == failover.to:
            out.add(where, "failover from and to must be different regions")
        elif "/" in failover.from_ or "/" in failover.to:
            out.add(where, "failover from and to are regions, without '/'")


def _check_outlier_detection(od: OutlierDetection, path: str, out: Issues) -> None:
    if od.consecutive_errors is not None and od.consecutive_errors < 0:
        out.add(f"{path}.consecutiveErrors", "consecutiveErrors must be >= 0")
    check_duration_at(od.interval, f"{path}.interval", out)
    check_duration_at(od.base_ejection_time, f"{path}.baseEjectionTime", out)
    for field, value in (
        ("maxEjectionPercent", od.max_ejection_percent),
        ("minHealthPercent", od.min_health_percent),
    ):
        if value is not None and not 0 <= value <= 100:
            out.add(f"{path}.{field}", f"{field} {value} must be in 0..100")


def _check_client_tls(tls: ClientTLSSettings, path: str, out: Issues) -> None:
    if tls.mode in ("SIMPLE", "MUTUAL") and tls.credential_name:
        if tls.client_certificate or tls.private_key or tls.ca_certificates or tls.ca_crl:
            out.add(
                path,
                "with credentialName set, leave clientCertificate, privateKey, "
                "caCertificates and caCrl unset (they come from the credential)",
            )
        return
    if tls.mode == "MUTUAL":
        if not tls.client_certificate:
            out.add(
                f"{path}.clientCertificate",
                "MUTUAL TLS needs clientCertificate (or credentialName)",
            )
        if not tls.private_key:
            out.add(f"{path}.privateKey", "MUTUAL TLS needs privateKey (or credentialName)")


def _check_tunnel(tunnel: TunnelSettings, path: str, out: Issues) -> None:
    if tunnel.protocol not in (None, "", "CONNECT", "POST"):
        out.add(f"{path}.protocol", f"tunnel protocol {tunnel.protocol!r} must be CONNECT or POST")
    if not is_ip(tunnel.target_host):
        problem = check_fqdn(tunnel.target_host)
        if problem:
            out.add(f"{path}.targetHost", f"{problem}; use a host name or an IP address")
    check_port(tunnel.target_port, f"{path}.targetPort", out)
