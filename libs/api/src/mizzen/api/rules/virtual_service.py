"""VirtualService rules (Istio's webhook and the CRD's CEL rules)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from mizzen.api.hosts import (
    check_fqdn,
    check_ip_or_cidr,
    check_wildcard_domain,
    is_dns1123_label,
    is_ip,
)
from mizzen.api.labels import check_header_name
from mizzen.api.networking.common import Headers, StringMatch
from mizzen.api.networking.virtual_service import (
    CorsPolicy,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRedirect,
    HTTPRetry,
    HTTPRewrite,
    HTTPRoute,
    L4MatchAttributes,
    RouteDestination,
    TCPRoute,
    TLSMatchAttributes,
    TLSRoute,
    VirtualService,
)
from mizzen.api.regexes import check_regex
from mizzen.api.rules.common import (
    check_destination,
    check_duration_at,
    check_export_to,
    check_label_map,
    check_percent,
    check_port,
    check_string_match,
    count_set,
)
from mizzen.api.rules.issues import Issues
from mizzen.api.wildcards import host_covers

__all__ = ["check_virtual_service"]

RETRY_ON = frozenset({
    "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure",
    "envoy-ratelimited", "retriable-4xx", "refused-stream", "retriable-status-codes",
    "retriable-headers", "http3-post-connect-failure", "cancelled", "deadline-exceeded",
    "internal", "resource-exhausted", "unavailable",
})  # fmt: skip
HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
GRPC_CODES = frozenset({
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
})  # fmt: skip
MAX_DIRECT_RESPONSE_BODY = 1024 * 1024


def check_virtual_service(vs: VirtualService, out: Issues) -> None:
    """Check a VirtualService the way Istio's validating webhook does."""
    spec = vs.spec
    hosts = spec.hosts or []
    delegate = not hosts  # a VirtualService without hosts is a delegate (Istio's rule)
    if delegate:
        if spec.gateways:
            out.add("spec.gateways", "a delegate VirtualService (no hosts) must not set gateways")
        if spec.tls:
            out.add("spec.tls", "a delegate VirtualService (no hosts) must not set tls routes")
        if spec.tcp:
            out.add("spec.tcp", "a delegate VirtualService (no hosts) must not set tcp routes")
    for i, host in enumerate(hosts):
        problem = check_wildcard_domain(host)
        if problem and not is_ip(host):
            out.add(f"spec.hosts[{i}]", problem)
    _check_gateway_names(spec.gateways, "spec.gateways", out)
    if not (spec.http or spec.tcp or spec.tls):
        out.add("spec", "at least one of http, tcp or tls routes must be set")
    for i, http in enumerate(spec.http or ()):
        _check_http_route(http, f"spec.http[{i}]", delegate=delegate, out=out)
    for i, tcp in enumerate(spec.tcp or ()):
        _check_tcp_route(tcp, f"spec.tcp[{i}]", out)
    for i, tls in enumerate(spec.tls or ()):
        _check_tls_route(tls, f"spec.tls[{i}]", hosts, out)
    check_export_to(vs.namespace, spec.export_to, out)


def _check_gateway_names(names: Sequence[str] | None, path: str, out: Issues) -> None:
    for i, name in enumerate(names or ()):
        where = f"{path}[{i}]"
        if name == "mesh":
            continue
        namespace, slash, gateway = name.partition("/")
        if not slash:
            out.add_if(where, check_fqdn(name))
            continue
        if not namespace or not gateway:
            out.add(where, f"gateway {name!r} must be namespace/name, both non-empty")
        elif not is_dns1123_label(namespace):
            out.add(where, f"gateway {name!r}: namespace {namespace!r} is not a DNS label")
        elif not is_dns1123_label(gateway):
            out.add(where, f"gateway {name!r}: name {gateway!r} is not a DNS label")


def _check_weights(weights: Sequence[int | None], path: str, out: Issues) -> None:
    """Weights are relative (current Istio): none negative, not all zero when several."""
    total = 0
    for i, weight in enumerate(weights):
        if weight is not None and weight < 0:
            out.add(f"{path}[{i}].weight", f"weight {weight} is negative: must be >= 0")
        total += weight or 0
    if len(weights) > 1 and total == 0:
        out.add(path, "weights are all zero: give at least one destination a positive weight")


def _check_headers(headers: Headers | None, path: str, out: Issues) -> None:
    if headers is None:
        return
    for side, ops in (("request", headers.request), ("response", headers.response)):
        if ops is None:
            continue
        for op, names in (("set", ops.set), ("add", ops.add), ("remove", ops.remove)):
            for j, name in enumerate(names or ()):
                where = f"{path}.{side}.{op}" + (f"[{j}]" if op == "remove" else f"[{name}]")
                out.add_if(where, check_header_name(name))


def _check_match_map(
    matches: dict[str, StringMatch] | None, path: str, out: Issues, *, headers: bool
) -> None:
    for name, match in (matches or {}).items():
        where = f"{path}[{name}]"
        if headers:
            out.add_if(where, check_header_name(name))
        elif not name:
            out.add(where, "query parameter name must not be empty")
        check_string_match(match, where, out)


def _check_match(match: HTTPMatchRequest, path: str, out: Issues) -> None:
    for field, value in (
        ("uri", match.uri),
        ("scheme", match.scheme),
        ("method", match.method),
        ("authority", match.authority),
    ):
        if value is not None:
            check_string_match(value, f"{path}.{field}", out)
    _check_match_map(match.headers, f"{path}.headers", out, headers=True)
    _check_match_map(match.without_headers, f"{path}.withoutHeaders", out, headers=True)
    _check_match_map(match.query_params, f"{path}.queryParams", out, headers=False)
    if match.port is not None:
        check_port(match.port, f"{path}.port", out)
    check_label_map(match.source_labels, f"{path}.sourceLabels", out)
    _check_gateway_names(match.gateways, f"{path}.gateways", out)


def _check_exclusive(route: HTTPRoute, path: str, out: Issues) -> None:
    pairs = (
        ("route", route.route, "redirect", route.redirect),
        ("route", route.route, "directResponse", route.direct_response),
        ("redirect", route.redirect, "directResponse", route.direct_response),
        ("rewrite", route.rewrite, "redirect", route.redirect),
        ("mirror", route.mirror, "mirrors", route.mirrors),
    )
    for first, a, second, b in pairs:
        if a and b:
            out.add(path, f"set only one of {first} and {second}")


def _check_delegate(route: HTTPRoute, path: str, *, delegate: bool, out: Issues) -> None:
    assert route.delegate is not None  # the caller checked
    if delegate:
        out.add(
            f"{path}.delegate", "delegate applies only to a root VirtualService (one with hosts)"
        )
    if route.route or route.redirect or route.direct_response:
        out.add(path, "a route with delegate must not also set route, redirect or directResponse")
    if not route.delegate.name:
        out.add(f"{path}.delegate.name", "delegate name is required")
    if route.delegate.namespace and not is_dns1123_label(route.delegate.namespace):
        out.add(f"{path}.delegate.namespace", "delegate namespace must be a DNS label")


def _check_mirrors(route: HTTPRoute, path: str, out: Issues) -> None:
    if route.mirror is not None:
        check_destination(route.mirror, f"{path}.mirror", out)
    check_percent(route.mirror_percentage, f"{path}.mirrorPercentage", out)
    for field, legacy in (
        ("mirrorPercent", route.mirror_percent),
        ("mirror_percent", route.mirror_percent_legacy),
    ):
        if legacy is not None and legacy > 100:
            out.add(f"{path}.{field}", f"mirror percent {legacy} must be in 0..100")
    for i, mirror in enumerate(route.mirrors or ()):
        check_destination(mirror.destination, f"{path}.mirrors[{i}].destination", out)
        check_percent(mirror.percentage, f"{path}.mirrors[{i}].percentage", out)


def _check_http_route(route: HTTPRoute, path: str, *, delegate: bool, out: Issues) -> None:
    if route.delegate is not None:
        _check_delegate(route, path, delegate=delegate, out=out)
    elif not (route.route or route.redirect or route.direct_response):
        out.add(path, "one of route, redirect or directResponse is required")
    _check_exclusive(route, path, out)
    for i, match in enumerate(route.match or ()):
        _check_match(match, f"{path}.match[{i}]", out)
    for i, dest in enumerate(route.route or ()):
        check_destination(dest.destination, f"{path}.route[{i}].destination", out)
        _check_headers(dest.headers, f"{path}.route[{i}].headers", out)
    _check_weights([d.weight for d in route.route or ()], f"{path}.route", out)
    _check_headers(route.headers, f"{path}.headers", out)
    if route.redirect is not None:
        _check_redirect(route.redirect, f"{path}.redirect", out)
    if route.direct_response is not None:
        _check_direct_response(route, f"{path}.directResponse", out)
    if route.rewrite is not None:
        _check_rewrite(route.rewrite, f"{path}.rewrite", out)
    check_duration_at(route.timeout, f"{path}.timeout", out)
    if route.retries is not None:
        _check_retries(route.retries, f"{path}.retries", out)
    if route.fault is not None:
        _check_fault(route.fault, f"{path}.fault", out)
    _check_mirrors(route, path, out)
    if route.cors_policy is not None:
        _check_cors(route.cors_policy, f"{path}.corsPolicy", out)


def _check_redirect(redirect: HTTPRedirect, path: str, out: Issues) -> None:
    if count_set(redirect.port, redirect.derive_port) > 1:
        out.add(path, "set only one of port and derivePort")
    if not (
        redirect.uri
        or redirect.authority
        or redirect.scheme
        or redirect.prefix_rewrite
        or redirect.port is not None
        or redirect.derive_port is not None
    ):
        out.add(
            path,
            "redirect must set at least one of uri, authority, scheme, port, "
            "derivePort or prefixRewrite",
        )
    if redirect.uri and redirect.prefix_rewrite:
        out.add(path, "set only one of uri and prefixRewrite")
    if redirect.port is not None:
        check_port(redirect.port, f"{path}.port", out)
    code = redirect.redirect_code
    if code is not None and code != 0 and not 300 <= code <= 399:
        out.add(f"{path}.redirectCode", f"redirect code {code} is invalid: must be 3xx")


def _check_direct_response(route: HTTPRoute, path: str, out: Issues) -> None:
    response = route.direct_response
    assert response is not None  # the caller checked
    if not 200 <= response.status <= 599:
        out.add(f"{path}.status", f"status {response.status} is invalid: must be in 200..599")
    body = response.body
    if body is None:
        return
    if count_set(body.string, body.bytes) > 1:
        out.add(f"{path}.body", "set only one of string and bytes")
    size = len(body.string.encode("utf-8", "surrogatepass")) if body.string is not None else 0
    if body.bytes is not None:
        try:
            size = len(base64.b64decode(body.bytes, validate=True))
        except (binascii.Error, ValueError):
            out.add(f"{path}.body.bytes", "bytes must be base64 encoded")
    if size > MAX_DIRECT_RESPONSE_BODY:
        out.add(f"{path}.body", f"body is {size} bytes: must be at most 1 MiB")


def _check_rewrite(rewrite: HTTPRewrite, path: str, out: Issues) -> None:
    if rewrite.uri and rewrite.uri_regex_rewrite is not None:
        out.add(path, "set only one of uri and uriRegexRewrite")
    if not (rewrite.uri or rewrite.authority or rewrite.uri_regex_rewrite is not None):
        out.add(path, "rewrite must set at least one of uri, authority or uriRegexRewrite")
    regex = rewrite.uri_regex_rewrite
    if regex is not None:
        if not regex.match or regex.rewrite is None:
            out.add(f"{path}.uriRegexRewrite", "uriRegexRewrite needs both match and rewrite")
        if regex.match:
            out.add_if(f"{path}.uriRegexRewrite.match", check_regex(regex.match))


def _check_retries(retries: HTTPRetry, path: str, out: Issues) -> None:
    attempts = retries.attempts
    if attempts is not None and attempts < 0:
        out.add(f"{path}.attempts", f"attempts {attempts} is negative: must be >= 0")
    if attempts == 0 and (retries.per_try_timeout is not None or retries.retry_on):
        out.add(path, "perTryTimeout and retryOn need attempts > 0 (0 disables retries)")
    check_duration_at(retries.per_try_timeout, f"{path}.perTryTimeout", out)
    check_duration_at(retries.backoff, f"{path}.backoff", out)
    for item in (retries.retry_on or "").split(","):
        policy = item.strip()
        if not policy or policy in RETRY_ON:
            continue
        if not (policy.isascii() and policy.isdigit() and 100 <= int(policy) <= 599):
            out.add(
                f"{path}.retryOn",
                f"{policy!r} is not a retry condition: use an HTTP status code or one of "
                + ", ".join(sorted(RETRY_ON)),
            )


def _check_fault(fault: HTTPFaultInjection, path: str, out: Issues) -> None:
    if fault.delay is None and fault.abort is None:
        out.add(path, "fault injection needs an abort, a delay, or both")
    delay = fault.delay
    if delay is not None:
        where = f"{path}.delay"
        if count_set(delay.fixed_delay, delay.exponential_delay) > 1:
            out.add(where, "set only one of fixedDelay and exponentialDelay")
        check_percent(delay.percentage, f"{where}.percentage", out)
        if delay.percent is not None and not 0 <= delay.percent <= 100:
            out.add(f"{where}.percent", f"percent {delay.percent} must be in 0..100")
        check_duration_at(delay.fixed_delay, f"{where}.fixedDelay", out)
        check_duration_at(delay.exponential_delay, f"{where}.exponentialDelay", out)
        if delay.exponential_delay is not None:
            out.add(
                f"{where}.exponentialDelay", "exponentialDelay is not supported; use fixedDelay"
            )
        elif delay.fixed_delay is None:
            out.add(where, "delay needs fixedDelay")
    abort = fault.abort
    if abort is not None:
        where = f"{path}.abort"
        if count_set(abort.http_status, abort.grpc_status, abort.http2_error) > 1:
            out.add(where, "set only one of httpStatus, grpcStatus and http2Error")
        check_percent(abort.percentage, f"{where}.percentage", out)
        if abort.http_status is not None and not 200 <= abort.http_status <= 599:
            out.add(f"{where}.httpStatus", f"httpStatus {abort.http_status} must be in 200..599")
        if abort.grpc_status is not None and abort.grpc_status not in GRPC_CODES:
            out.add(
                f"{where}.grpcStatus",
                f"{abort.grpc_status!r} is not a gRPC status name (e.g. UNAVAILABLE)",
            )
        if abort.http2_error is not None:
            out.add(f"{where}.http2Error", "http2Error aborts are not supported")
        if count_set(abort.http_status, abort.grpc_status, abort.http2_error) == 0:
            out.add(where, "abort needs httpStatus or grpcStatus")


def _check_cors(cors: CorsPolicy, path: str, out: Issues) -> None:
    for i, origin in enumerate(cors.allow_origins or ()):
        check_string_match(origin, f"{path}.allowOrigins[{i}]", out)
    for i, method in enumerate(cors.allow_methods or ()):
        if method not in HTTP_METHODS:
            out.add(
                f"{path}.allowMethods[{i}]",
                f"{method!r} is not an HTTP method: use one of " + ", ".join(sorted(HTTP_METHODS)),
            )
    for field, names in (
        ("allowHeaders", cors.allow_headers),
        ("exposeHeaders", cors.expose_headers),
    ):
        for i, name in enumerate(names or ()):
            if name != "*":
                out.add_if(f"{path}.{field}[{i}]", check_header_name(name))
    check_duration_at(cors.max_age, f"{path}.maxAge", out)


def _check_l4_match(match: L4MatchAttributes | TLSMatchAttributes, path: str, out: Issues) -> None:
    for i, subnet in enumerate(match.destination_subnets or ()):
        out.add_if(f"{path}.destinationSubnets[{i}]", check_ip_or_cidr(subnet))
    if isinstance(match, L4MatchAttributes) and match.source_subnet:
        out.add_if(f"{path}.sourceSubnet", check_ip_or_cidr(match.source_subnet))
    if match.port is not None:
        check_port(match.port, f"{path}.port", out)
    check_label_map(match.source_labels, f"{path}.sourceLabels", out)
    _check_gateway_names(match.gateways, f"{path}.gateways", out)


def _check_route_destinations(
    routes: Sequence[RouteDestination] | None, path: str, out: Issues, what: str
) -> None:
    if not routes:
        out.add(path, f"{what} route needs at least one destination")
        return
    for i, dest in enumerate(routes):
        check_destination(dest.destination, f"{path}[{i}].destination", out)
    _check_weights([d.weight for d in routes], path, out)


def _check_tcp_route(route: TCPRoute, path: str, out: Issues) -> None:
    for i, match in enumerate(route.match or ()):
        _check_l4_match(match, f"{path}.match[{i}]", out)
    _check_route_destinations(route.route, f"{path}.route", out, "TCP")


def _check_tls_route(route: TLSRoute, path: str, hosts: Sequence[str], out: Issues) -> None:
    if not route.match:
        out.add(f"{path}.match", "a TLS route needs at least one match")
    for i, match in enumerate(route.match):
        where = f"{path}.match[{i}]"
        if not match.sni_hosts:
            out.add(f"{where}.sniHosts", "a TLS match needs at least one SNI host")
        for j, sni in enumerate(match.sni_hosts):
            problem = check_wildcard_domain(sni)
            if problem:
                out.add(f"{where}.sniHosts[{j}]", problem)
            elif not any(host_covers(host, sni) for host in hosts):
                out.add(
                    f"{where}.sniHosts[{j}]",
                    f"SNI host {sni!r} is not covered by any of the VirtualService's hosts",
                )
        _check_l4_match(match, where, out)
    _check_route_destinations(route.route, f"{path}.route", out, "TLS")
