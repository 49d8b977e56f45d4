"""VirtualService HTTP routes → Envoy routes, for one service port seen by one proxy.

One Envoy route per applicable ``match`` of each HTTP route, in order (a route without
matches matches every request: prefix ``/``). A match applies to this proxy and port when
its ``port`` (if any) is the port being routed, its ``gateways`` (if any) name the gateway
being routed for (``mesh`` for sidecars, ``<namespace>/<name>`` for a Gateway's servers),
and its ``sourceLabels`` / ``sourceNamespace`` select the proxy: decided here, at generation
time, as Istio does. A route whose matches all fail to apply is left out. Sidecars and
gateways share these builders.

Matching: ``uri`` exact → ``path``, prefix → ``prefix``, regex → ``safe_regex`` (RE2),
``ignoreUriCase`` → ``case_sensitive: false``; ``headers``, ``method`` (``:method``),
``scheme``, ``authority`` → header matchers, an empty match meaning "present";
``withoutHeaders`` → inverted header matchers; ``queryParams`` → query parameter matchers.
Header and parameter matchers are sorted by name for stable output.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from envoy.config.route.v3 import route_components_pb2

from mizzen.api import VirtualService
from mizzen.api.networking.common import Headers, StringMatch
from mizzen.api.networking.virtual_service import HTTPMatchRequest, HTTPRoute
from mizzen.envoy import pack
from mizzen.translator.domain.generators.delegation import delegate_of, delegated_routes
from mizzen.translator.domain.generators.destinations import (
    Target,
    destination_target,
    hash_policy,
    weighted,
)
from mizzen.translator.domain.generators.errors import blame
from mizzen.translator.domain.generators.route_features import (
    CORS_FILTER,
    FAULT_FILTER,
    apply_headers,
    cors_config,
    direct_response,
    fault_config,
    redirect_action,
    retry_policy,
    rewrite,
    set_timeout,
)
from mizzen.translator.domain.generators.values import (
    fractional_percent,
    is_empty_match,
    string_matcher,
)
from mizzen.translator.domain.generators.view import MESH_GATEWAY, ProxyView, gateway_listed
from mizzen.translator.domain.mesh_config import namespace_of, resource_id

__all__ = ["DEFAULT_ROUTE", "default_route", "virtual_service_routes"]

Route = route_components_pb2.Route
DEFAULT_ROUTE = "default"
"""The name of the route Istio generates for a service without a VirtualService."""


def _header_matcher(name: str, match: StringMatch, *, invert: bool = False) -> Any:
    matcher = route_components_pb2.HeaderMatcher(name=name.lower(), invert_match=invert)
    if is_empty_match(match):
        matcher.present_match = True
    else:
        matcher.string_match.CopyFrom(string_matcher(match))
    return matcher


def _header_matchers(
    values: Mapping[str, StringMatch] | None, *, invert: bool = False
) -> list[Any]:
    return [_header_matcher(n, m, invert=invert) for n, m in sorted((values or {}).items())]


def route_match(match: HTTPMatchRequest | None) -> tuple[Any, bool]:
    """The Envoy RouteMatch of an Istio match (``None``: everything), and whether it
    matches a path prefix (which decides how a URI rewrite applies)."""
    result = route_components_pb2.RouteMatch()
    if match is None or match.uri is None or is_empty_match(match.uri):
        result.prefix = "/"
        return result, True
    uri = match.uri
    prefix_matched = False
    if uri.exact is not None:
        result.path = uri.exact
    elif uri.prefix is not None:
        result.prefix = uri.prefix
        prefix_matched = True
    else:
        result.safe_regex.regex = uri.regex or ""
    if match.ignore_uri_case:
        result.case_sensitive.value = False
    return result, prefix_matched


def _full_match(match: HTTPMatchRequest | None) -> tuple[Any, bool]:
    result, prefix_matched = route_match(match)
    if match is None:
        return result, prefix_matched
    result.headers.extend(_header_matchers(match.headers))
    for pseudo, value in ((":method", match.method), (":scheme", match.scheme),
                          (":authority", match.authority)):  # fmt: skip
        if value is not None:
            result.headers.append(_header_matcher(pseudo, value))
    result.headers.extend(_header_matchers(match.without_headers, invert=True))
    for name, value in sorted((match.query_params or {}).items()):
        parameter = result.query_parameters.add(name=name)
        if is_empty_match(value):
            parameter.present_match = True
        else:
            parameter.string_match.CopyFrom(string_matcher(value))
    return result, prefix_matched


def _applies(
    view: ProxyView, match: HTTPMatchRequest, port: int, namespace: str, gateway: str
) -> bool:
    if match.port and match.port != port:
        return False
    if match.gateways and not gateway_listed(match.gateways, namespace, gateway):
        return False
    return view.source_matches(match.source_labels, match.source_namespace)


def _route_action(
    view: ProxyView, route: HTTPRoute, namespace: str, port: int, prefix_matched: bool
) -> tuple[Any, Headers | None]:
    """The route action, and the header operations of its destination when it has one
    (they then go on the route; several destinations carry their own)."""
    action = route_components_pb2.RouteAction()
    destinations = route.route or []
    entries = [
        (destination_target(view, d.destination, namespace, port), d.weight) for d in destinations
    ]
    headers_by_cluster: dict[str, Headers | None] = {}
    for (target, _), destination in zip(entries, destinations, strict=True):
        headers_by_cluster.setdefault(target.cluster, destination.headers)
    targets = weighted(entries)
    single_headers = None
    if len(targets) == 1:
        action.cluster = targets[0][0].cluster
        single_headers = headers_by_cluster.get(action.cluster)
    else:
        for target, weight in targets:
            entry = action.weighted_clusters.clusters.add(name=target.cluster)
            entry.weight.value = weight
            apply_headers(entry, headers_by_cluster.get(target.cluster))
    set_timeout(action, route.timeout)
    policy = retry_policy(route.retries)
    if policy is not None:
        action.retry_policy.CopyFrom(policy)
    for target, _ in targets:
        hashing = hash_policy(view, target)
        if hashing is not None:
            action.hash_policy.append(hashing)
            break
    _mirrors(view, action, route, namespace, port)
    rewrite(action, route, prefix_matched)
    return action, single_headers


def _mirrors(view: ProxyView, action: Any, route: HTTPRoute, namespace: str, port: int) -> None:
    mirrors = []
    if route.mirror is not None:
        legacy = route.mirror_percent if route.mirror_percent is not None else (
            route.mirror_percent_legacy
        )  # fmt: skip
        mirrors.append((route.mirror, fractional_percent(route.mirror_percentage, legacy)))
    for policy in route.mirrors or ():
        mirrors.append((policy.destination, fractional_percent(policy.percentage)))
    for destination, percent in mirrors:
        mirror = action.request_mirror_policies.add(
            cluster=destination_target(view, destination, namespace, port).cluster
        )
        mirror.runtime_fraction.default_value.CopyFrom(percent)
        mirror.trace_sampled.value = False


def _http_route(
    view: ProxyView,
    vs: VirtualService,
    route: HTTPRoute,
    match: HTTPMatchRequest | None,
    port: int,
) -> Any:
    namespace = namespace_of(vs)
    envoy_match, prefix_matched = _full_match(match)
    names = [n for n in (route.name, match.name if match else None) if n]
    result = Route(name=".".join(names), match=envoy_match)
    if match is not None and match.stat_prefix:
        result.stat_prefix = match.stat_prefix  # the route's own stats (vhost.*.route.<prefix>.*)
    if route.redirect is not None:
        result.redirect.CopyFrom(redirect_action(route.redirect))
    elif route.direct_response is not None:
        result.direct_response.CopyFrom(direct_response(route.direct_response))
    else:
        action, destination_headers = _route_action(view, route, namespace, port, prefix_matched)
        result.route.CopyFrom(action)
        apply_headers(result, destination_headers)
    apply_headers(result, route.headers)
    if route.fault is not None:
        fault = fault_config(route.fault)
        if fault is not None:
            result.typed_per_filter_config[FAULT_FILTER].CopyFrom(pack(fault))
    if route.cors_policy is not None:
        result.typed_per_filter_config[CORS_FILTER].CopyFrom(pack(cors_config(route.cors_policy)))
    return result


def virtual_service_routes(
    view: ProxyView, vs: VirtualService, port: int, *, gateway: str = MESH_GATEWAY
) -> list[Any]:
    """The Envoy routes of ``vs`` for traffic to ``port``, in order, as routed by
    ``gateway`` (``mesh``: sidecars; ``<namespace>/<name>``: that Gateway's server on
    ``port``)."""
    with blame(resource_id(vs)):
        return list(_virtual_service_routes(view, vs, port, gateway))


def _virtual_service_routes(
    view: ProxyView, vs: VirtualService, port: int, gateway: str
) -> Iterator[Any]:
    for route in vs.spec.http or ():
        if route.delegate is None:
            yield from _routes_of(view, vs, route, port, gateway)
            continue
        delegate = delegate_of(view.config, vs, route)
        if delegate is None:
            continue  # a missing or invisible delegate routes nothing
        with blame(resource_id(delegate)):
            for merged in delegated_routes(delegate, vs, route):
                yield from _routes_of(view, delegate, merged, port, gateway)


def _routes_of(
    view: ProxyView, vs: VirtualService, route: HTTPRoute, port: int, gateway: str
) -> Iterator[Any]:
    """The Envoy routes of one HTTP route of ``vs``: one per match that applies."""
    if not route.route and route.redirect is None and route.direct_response is None:
        return
    if not route.match:
        yield _http_route(view, vs, route, None, port)
        return
    for match in route.match:
        if _applies(view, match, port, namespace_of(vs), gateway):
            yield _http_route(view, vs, route, match, port)


def default_route(view: ProxyView, target: Target) -> Any:
    """Istio's route for a service without a VirtualService: everything to its cluster,
    default retries, no timeout, the DestinationRule's hash policy."""
    result = Route(name=DEFAULT_ROUTE)
    result.match.prefix = "/"
    action = result.route
    action.cluster = target.cluster
    set_timeout(action, None)
    policy = retry_policy(None)
    action.retry_policy.CopyFrom(policy)
    hashing = hash_policy(view, target)
    if hashing is not None:
        action.hash_policy.append(hashing)
    return result
