"""VirtualService delegation: a root route with ``delegate`` takes its routes from another
VirtualService (one with no hosts), merged as Istio merges them.

- The delegate is looked up by name, in ``delegate.namespace`` or the root's namespace; it
  must have no hosts (only one level of delegation) and be exported to the root's namespace.
  A missing or invisible delegate contributes no routes.
- Each delegate route gets the root route's match conditions: every delegate match is merged
  with each root match it does not conflict with (its own conditions win; headers, query
  parameters, source labels and the like are combined). A delegate match must be a subset
  of a root match: a URI, scheme, method or authority it narrows must lie within the root's
  (an exact value under the root's prefix, a longer prefix, the same regex), same-named
  headers and parameters likewise, same port, same source namespace, source labels and
  gateways within the root's. A delegate route with a match that fits no root match is
  dropped. Without matches on one side, the other side's apply.
- Fields a delegate route leaves unset (``rewrite``, ``timeout``, ``retries``, ``fault``,
  ``mirror``, mirror percentages, ``corsPolicy``, ``headers``, ``directResponse``) come from
  the root route; names join as ``<root>-<delegate>``.
- The delegate's destinations resolve in the delegate's namespace.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from mizzen.api import VirtualService
from mizzen.api.networking.common import StringMatch
from mizzen.api.networking.virtual_service import HTTPMatchRequest, HTTPRoute
from mizzen.translator.domain.generators.view import exported_to, gateway_key
from mizzen.translator.domain.mesh_config import MeshConfig, namespace_of

__all__ = ["delegate_of", "delegated_routes", "merge_route"]

_INHERITED = (
    "rewrite",
    "direct_response",
    "timeout",
    "retries",
    "fault",
    "mirror",
    "mirrors",
    "mirror_percent",
    "mirror_percent_legacy",
    "mirror_percentage",
    "cors_policy",
    "headers",
)


def delegate_of(
    config: MeshConfig, root: VirtualService, route: HTTPRoute
) -> VirtualService | None:
    """The VirtualService ``route`` (of ``root``) delegates to, if it exists, has no hosts
    and is exported to the root's namespace."""
    reference = route.delegate
    if reference is None or not reference.name:
        return None
    namespace = reference.namespace or namespace_of(root)
    vs = config.virtual_service_named(namespace, reference.name)
    if vs is None or vs.spec.hosts:
        return None
    return vs if exported_to(vs.spec.export_to, namespace, namespace_of(root)) else None


def delegated_routes(
    delegate: VirtualService, root: VirtualService, root_route: HTTPRoute
) -> Iterator[HTTPRoute]:
    """The delegate's HTTP routes merged with ``root_route`` of ``root`` (those that conflict
    left out)."""
    for route in delegate.spec.http or ():
        if route.delegate is not None:
            continue  # one level only
        merged = merge_route(_absolute_gateways(root_route, namespace_of(root)), route)
        if merged is not None:
            yield merged


def merge_route(root: HTTPRoute, delegate: HTTPRoute) -> HTTPRoute | None:
    """``delegate`` under ``root`` (see the module), or ``None`` when its matches conflict."""
    fits, matches = _merge_matches(root.match, delegate.match)
    if not fits:
        return None
    update: dict[str, Any] = {"match": matches, "name": _joined(root.name, delegate.name)}
    for name in _INHERITED:
        if getattr(delegate, name) is None:
            update[name] = getattr(root, name)
    return delegate.model_copy(update=_set_only(update))


def _absolute_gateways(route: HTTPRoute, namespace: str) -> HTTPRoute:
    """``route`` with its matches' gateways written ``<namespace>/<name>`` (the merged
    routes are read in the delegate's namespace)."""
    if not any(m.gateways for m in route.match or ()):
        return route
    matches = [
        m.model_copy(update={"gateways": [gateway_key(g, namespace) for g in m.gateways]})
        if m.gateways else m
        for m in route.match or ()
    ]  # fmt: skip
    return route.model_copy(update={"match": matches})


def _joined(root: str | None, delegate: str | None) -> str | None:
    if root and delegate:
        return f"{root}-{delegate}"
    return delegate or root


def _merge_matches(
    root: list[HTTPMatchRequest] | None, delegate: list[HTTPMatchRequest] | None
) -> tuple[bool, list[HTTPMatchRequest] | None]:
    """Whether every delegate match fits a root match, and the merged matches."""
    if not delegate:
        return True, root
    if not root:
        return True, delegate
    merged: list[HTTPMatchRequest] = []
    for leaf in delegate:
        fitting = [_merge_match(r, leaf) for r in root if not _conflicts(r, leaf)]
        if not fitting:
            return False, None
        merged += fitting
    return True, merged


def _string_conflict(root: StringMatch | None, leaf: StringMatch | None) -> bool:
    """Whether ``leaf`` does not narrow ``root`` (no conflict when either is unset)."""
    if root is None or leaf is None:
        return False
    if root.regex is not None or leaf.regex is not None:
        return root.regex != leaf.regex
    if root.exact is not None:
        return leaf.exact != root.exact
    if root.prefix is not None:
        value = leaf.prefix if leaf.prefix is not None else leaf.exact
        return value is None or not value.startswith(root.prefix)
    return False


def _maps_conflict(
    root: Mapping[str, StringMatch] | None, leaf: Mapping[str, StringMatch] | None
) -> bool:
    return any(_string_conflict((root or {}).get(k), v) for k, v in (leaf or {}).items())


def _conflicts(root: HTTPMatchRequest, leaf: HTTPMatchRequest) -> bool:
    root_labels = root.source_labels or {}
    leaf_labels = leaf.source_labels or {}
    return (
        any(_string_conflict(getattr(root, n), getattr(leaf, n))
            for n in ("uri", "scheme", "method", "authority"))
        or any(_maps_conflict(getattr(root, n), getattr(leaf, n))
               for n in ("headers", "without_headers", "query_params"))
        or bool(root.ignore_uri_case) != bool(leaf.ignore_uri_case)
        or bool(root.port and leaf.port and root.port != leaf.port)
        or bool(root.source_namespace and leaf.source_namespace != root.source_namespace)
        or any(k in root_labels and root_labels[k] != v for k, v in leaf_labels.items())
        or bool(root.gateways and leaf.gateways and not set(leaf.gateways) <= set(root.gateways))
    )  # fmt: skip


def _merge_match(root: HTTPMatchRequest, leaf: HTTPMatchRequest) -> HTTPMatchRequest:
    update: dict[str, Any] = {"name": _joined(root.name, leaf.name)}
    for name in ("uri", "scheme", "method", "authority", "port", "gateways", "source_namespace",
                 "ignore_uri_case", "stat_prefix"):  # fmt: skip
        if not getattr(leaf, name):
            update[name] = getattr(root, name)
    for name in ("headers", "without_headers", "query_params", "source_labels"):
        combined = {**(getattr(root, name) or {}), **(getattr(leaf, name) or {})}
        update[name] = combined or None
    return leaf.model_copy(update=_set_only(update))


def _set_only(update: dict[str, Any]) -> dict[str, Any]:
    """``update`` without unset (``None``) values, so that copies keep "unset" unset."""
    return {name: value for name, value in update.items() if value is not None}
