"""The per-route features of an Istio HTTP route, as Envoy route fields.

Each function translates one VirtualService field, as Istio does:

- ``retries``: Istio's default policy when none is given (2 retries on
  ``connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes`` with 503
  retriable, other hosts preferred); ``attempts: 0`` disables retries; HTTP status codes in
  ``retryOn`` become retriable status codes; ``retryIgnorePreviousHosts: false`` lets a retry
  pick the host that failed; ``retryRemoteLocalities`` retries in other priorities
  (localities) than those already tried;
- ``timeout``: 0s (disabled) unless given, also as the gRPC timeout header cap;
- ``fault``: the fault filter's per-route config (delay and abort, percentages per million);
- ``mirror``/``mirrors``: request mirror policies with their percentages (100% by default);
- ``corsPolicy``: the CORS filter's per-route config;
- ``headers``: set (overwrite), add (append) and remove, on requests and responses;
- ``redirect``, ``directResponse``, ``rewrite``.
"""

from __future__ import annotations

import base64
from typing import Any

from envoy.config.route.v3 import route_components_pb2
from envoy.extensions.filters.http.cors.v3 import cors_pb2
from envoy.extensions.filters.http.fault.v3 import fault_pb2
from envoy.extensions.retry.host.previous_hosts.v3 import previous_hosts_pb2
from envoy.extensions.retry.priority.previous_priorities.v3 import (
    previous_priorities_config_pb2 as previous_priorities_pb2,
)
from envoy.type.matcher.v3 import regex_pb2

from mizzen.api.networking.common import Headers
from mizzen.api.networking.virtual_service import (
    CorsPolicy,
    HTTPDirectResponse,
    HTTPFaultInjection,
    HTTPRedirect,
    HTTPRetry,
    HTTPRoute,
)
from mizzen.envoy import pack
from mizzen.translator.domain.generators.values import (
    duration,
    fractional_percent,
    header_options,
    string_matcher,
)

__all__ = [
    "CORS_FILTER",
    "FAULT_FILTER",
    "apply_headers",
    "cors_config",
    "default_retry_policy",
    "direct_response",
    "fault_config",
    "redirect_action",
    "retry_policy",
    "rewrite",
    "set_timeout",
]

FAULT_FILTER = "envoy.filters.http.fault"
CORS_FILTER = "envoy.filters.http.cors"
DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
RETRIABLE_STATUS_CODES = "retriable-status-codes"
_DEFAULT_ATTEMPTS = 2
_DEFAULT_RETRIABLE = (503,)
_HOST_SELECTION_ATTEMPTS = 5
_HTTP_STATUS = range(100, 600)
_REDIRECT_CODES = {
    301: route_components_pb2.RedirectAction.MOVED_PERMANENTLY,
    302: route_components_pb2.RedirectAction.FOUND,
    303: route_components_pb2.RedirectAction.SEE_OTHER,
    307: route_components_pb2.RedirectAction.TEMPORARY_REDIRECT,
    308: route_components_pb2.RedirectAction.PERMANENT_REDIRECT,
}
_GRPC_CODES = {
    name: code
    for code, name in enumerate(
        (
            "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
            "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
            "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
            "UNAUTHENTICATED",
        )
    )
}  # fmt: skip


def _retry_host_predicate() -> Any:
    predicate = route_components_pb2.RetryPolicy.RetryHostPredicate(
        name="envoy.retry_host_predicates.previous_hosts"
    )
    predicate.typed_config.CopyFrom(pack(previous_hosts_pb2.PreviousHostsPredicate()))
    return predicate


def default_retry_policy() -> Any:
    """Istio's retry policy for routes that do not set one."""
    policy = route_components_pb2.RetryPolicy(
        retry_on=DEFAULT_RETRY_ON,
        retriable_status_codes=list(_DEFAULT_RETRIABLE),
        host_selection_retry_max_attempts=_HOST_SELECTION_ATTEMPTS,
    )
    policy.num_retries.value = _DEFAULT_ATTEMPTS
    policy.retry_host_predicate.append(_retry_host_predicate())
    return policy


def _parse_retry_on(text: str) -> tuple[str, list[int]]:
    conditions: list[str] = []
    codes: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.isdigit() and int(part) in _HTTP_STATUS:
            codes.append(int(part))
        else:
            conditions.append(part)
    if codes and RETRIABLE_STATUS_CODES not in conditions:
        conditions.append(RETRIABLE_STATUS_CODES)
    return ",".join(conditions), codes


def retry_policy(retries: HTTPRetry | None) -> Any | None:
    """The route's retry policy (``None``: no retries)."""
    policy = default_retry_policy()
    if retries is None:
        return policy
    if not retries.attempts:
        return None
    policy.num_retries.value = retries.attempts
    if retries.retry_on:
        retry_on, codes = _parse_retry_on(retries.retry_on)
        policy.retry_on = retry_on
        del policy.retriable_status_codes[:]
        policy.retriable_status_codes.extend(codes)
    if retries.per_try_timeout:
        policy.per_try_timeout.CopyFrom(duration(retries.per_try_timeout))
    if retries.backoff:
        policy.retry_back_off.base_interval.CopyFrom(duration(retries.backoff))
    if retries.retry_ignore_previous_hosts is False:
        del policy.retry_host_predicate[:]
    if retries.retry_remote_localities:
        policy.retry_priority.CopyFrom(_previous_priorities())
    return policy


def _previous_priorities() -> Any:
    """Retry in other priorities (localities) than the ones already tried."""
    priority = route_components_pb2.RetryPolicy.RetryPriority(
        name="envoy.retry_priorities.previous_priorities"
    )
    config = previous_priorities_pb2.PreviousPrioritiesConfig(update_frequency=2)
    priority.typed_config.CopyFrom(pack(config))
    return priority


def set_timeout(action: Any, timeout: str | None) -> None:
    """The route timeout (0s, disabled, by default) and the same cap on gRPC's
    ``grpc-timeout`` header."""
    value = duration(timeout or "0s")
    action.timeout.CopyFrom(value)
    action.max_stream_duration.max_stream_duration.CopyFrom(value)
    action.max_stream_duration.grpc_timeout_header_max.CopyFrom(value)


def fault_config(fault: HTTPFaultInjection) -> Any | None:
    """The fault filter's per-route config, or ``None`` when ``fault`` injects nothing."""
    config = fault_pb2.HTTPFault()
    delay = fault.delay
    if delay is not None and delay.fixed_delay:
        config.delay.fixed_delay.CopyFrom(duration(delay.fixed_delay))
        config.delay.percentage.CopyFrom(fractional_percent(delay.percentage, delay.percent))
    abort = fault.abort
    if abort is not None and (abort.http_status or abort.grpc_status):
        if abort.http_status:
            config.abort.http_status = abort.http_status
        else:
            status = abort.grpc_status or ""
            config.abort.grpc_status = (
                int(status) if status.isdigit() else _GRPC_CODES.get(status.upper(), 2)
            )
        config.abort.percentage.CopyFrom(fractional_percent(abort.percentage))
    if not (config.HasField("delay") or config.HasField("abort")):
        return None
    return config


def cors_config(policy: CorsPolicy) -> Any:
    """The CORS filter's per-route config."""
    config = cors_pb2.CorsPolicy()
    for origin in policy.allow_origins or ():
        config.allow_origin_string_match.append(string_matcher(origin))
    for exact in policy.allow_origin or ():
        config.allow_origin_string_match.add().exact = exact
    if policy.allow_methods:
        config.allow_methods = ",".join(policy.allow_methods)
    if policy.allow_headers:
        config.allow_headers = ",".join(policy.allow_headers)
    if policy.expose_headers:
        config.expose_headers = ",".join(policy.expose_headers)
    if policy.max_age:
        config.max_age = str(duration(policy.max_age).seconds)
    if policy.allow_credentials is not None:
        config.allow_credentials.value = policy.allow_credentials
    if policy.unmatched_preflights == "IGNORE":
        config.forward_not_matching_preflights.value = False
    elif policy.unmatched_preflights == "FORWARD":
        config.forward_not_matching_preflights.value = True
    return config


def apply_headers(target: Any, headers: Headers | None) -> None:
    """Header operations onto a Route (or a weighted cluster entry)."""
    if headers is None:
        return
    add, remove = header_options(headers.request)
    target.request_headers_to_add.extend(add)
    target.request_headers_to_remove.extend(remove)
    add, remove = header_options(headers.response)
    target.response_headers_to_add.extend(add)
    target.response_headers_to_remove.extend(remove)


def redirect_action(redirect: HTTPRedirect) -> Any:
    """A redirect: path (or prefix rewrite), authority, port, scheme and status code
    (301 unless given)."""
    action = route_components_pb2.RedirectAction(
        response_code=_REDIRECT_CODES.get(redirect.redirect_code or 301, 0)
    )
    if redirect.uri:
        action.path_redirect = redirect.uri
    elif redirect.prefix_rewrite:
        action.prefix_rewrite = redirect.prefix_rewrite
    if redirect.authority:
        action.host_redirect = redirect.authority
    if redirect.port:
        action.port_redirect = redirect.port
    if redirect.scheme:
        action.scheme_redirect = redirect.scheme
    return action


def direct_response(response: HTTPDirectResponse) -> Any:
    """A fixed response with an optional body."""
    action = route_components_pb2.DirectResponseAction(status=response.status)
    body = response.body
    if body is not None and body.string is not None:
        action.body.inline_string = body.string
    elif body is not None and body.bytes is not None:
        action.body.inline_bytes = base64.b64decode(body.bytes)
    return action


def rewrite(action: Any, route: HTTPRoute, prefix_matched: bool) -> None:
    """``rewrite.uri`` replaces the matched prefix (the whole path after an exact or regex
    match); ``uriRegexRewrite`` is a regex substitution; ``authority`` rewrites the Host."""
    spec = route.rewrite
    if spec is None:
        return
    if spec.uri is not None:
        if prefix_matched:
            action.prefix_rewrite = spec.uri
        else:
            action.regex_rewrite.pattern.CopyFrom(regex_pb2.RegexMatcher(regex="^.*$"))
            action.regex_rewrite.substitution = spec.uri
    elif spec.uri_regex_rewrite is not None and spec.uri_regex_rewrite.match:
        action.regex_rewrite.pattern.CopyFrom(
            regex_pb2.RegexMatcher(regex=spec.uri_regex_rewrite.match)
        )
        action.regex_rewrite.substitution = spec.uri_regex_rewrite.rewrite or ""
    if spec.authority:
        action.host_rewrite_literal = spec.authority
