"""Rules shared by several kinds: ports, destinations, matches, selectors, exportTo."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mizzen.api.durations import check_duration
from mizzen.api.hosts import check_wildcard_domain, is_dns1123_label
from mizzen.api.labels import check_labels
from mizzen.api.networking.common import Destination, Percent, StringMatch
from mizzen.api.regexes import check_regex
from mizzen.api.rules.issues import Issues
from mizzen.api.security.common import LabelSelector, PolicyTargetReference

__all__ = [
    "check_destination",
    "check_duration_at",
    "check_export_to",
    "check_label_map",
    "check_match_labels",
    "check_percent",
    "check_port",
    "check_string_match",
    "check_subset_name",
    "check_targets",
    "count_set",
]

MAX_PORT = 65535


def count_set(*values: object) -> int:
    """How many of `values` are set (not None)."""
    return sum(v is not None for v in values)


def check_port(number: int, path: str, out: Issues) -> None:
    """A port number must be in 1..65535."""
    if not 0 < number <= MAX_PORT:
        out.add(path, f"port {number} is out of range: must be in 1..65535")


def check_percent(value: Percent | None, path: str, out: Issues) -> None:
    """A Percent's value must be in [0, 100]."""
    if value is not None and value.value is not None and not 0 <= value.value <= 100:
        out.add(f"{path}.value", f"percentage {value.value} is out of range: must be in [0, 100]")


def check_duration_at(
    value: str | None, path: str, out: Issues, minimum_ms: int | None = 1
) -> None:
    """A duration string, at least `minimum_ms` long when given (the CRD's 1ms by default)."""
    if value is not None:
        out.add_if(path, check_duration(value, minimum_ms=minimum_ms))


def check_subset_name(name: str, path: str, out: Issues) -> None:
    """A subset name is a DNS label."""
    if not name:
        out.add(path, "subset name must not be empty")
    elif not is_dns1123_label(name):
        out.add(path, f"subset name {name!r} is invalid: must be a DNS label (e.g. v1, canary)")


def check_destination(dest: Destination, path: str, out: Issues) -> None:
    """Host (not `*`), subset name and port of a route destination."""
    if dest.host == "*":
        out.add(f"{path}.host", "destination host must not be '*': name one service")
    else:
        out.add_if(f"{path}.host", check_wildcard_domain(dest.host))
    if dest.subset is not None:
        check_subset_name(dest.subset, f"{path}.subset", out)
    if dest.port is not None and dest.port.number is not None:
        check_port(dest.port.number, f"{path}.port.number", out)


def check_string_match(match: StringMatch, path: str, out: Issues) -> None:
    """At most one of exact, prefix, regex (the CRD's oneOf); a regex must compile in RE2."""
    if count_set(match.exact, match.prefix, match.regex) > 1:
        out.add(path, "set only one of exact, prefix or regex")
    if match.regex is not None:
        out.add_if(f"{path}.regex", check_regex(match.regex))


def check_label_map(labels: Mapping[str, str] | None, path: str, out: Issues) -> None:
    """Kubernetes label syntax for every key and value."""
    for key, problem in check_labels(dict(labels or {})):
        out.add(f"{path}[{key}]", problem)


def check_match_labels(selector: LabelSelector | None, path: str, out: Issues) -> None:
    """A policy selector: no empty keys and no wildcards (the CRD's CEL rules), label syntax."""
    if selector is None or selector.match_labels is None:
        return
    for key, value in selector.match_labels.items():
        where = f"{path}.matchLabels[{key}]"
        if not key:
            out.add(where, "label key must not be empty")
        elif "*" in key:
            out.add(where, "wildcard not allowed in label key match")
        elif "*" in value:
            out.add(where, "wildcard not allowed in label value match")
    check_label_map(
        {k: v for k, v in selector.match_labels.items() if k and "*" not in k + v},
        f"{path}.matchLabels",
        out,
    )


_TARGET_KINDS = {
    ("gateway.networking.k8s.io", "Gateway"),
    ("gateway.networking.k8s.io", "GatewayClass"),
    ("", "Service"),
    ("core", "Service"),
    ("networking.istio.io", "ServiceEntry"),
}


def _check_target(ref: PolicyTargetReference, path: str, out: Issues) -> None:
    if ref.namespace:
        out.add(f"{path}.namespace", "cross namespace referencing is not currently supported")
    if (ref.group or "", ref.kind) not in _TARGET_KINDS:
        out.add(
            f"{path}.kind",
            f"targetRef to {ref.group or 'core'}/{ref.kind} is not supported: use a Gateway or "
            "GatewayClass (gateway.networking.k8s.io), a Service, or a ServiceEntry",
        )


def check_targets(
    selector: LabelSelector | None,
    target_ref: PolicyTargetReference | None,
    target_refs: Sequence[PolicyTargetReference] | None,
    out: Issues,
) -> None:
    """Only one of selector, targetRef and targetRefs; each reference well-formed."""
    if count_set(selector, target_ref, target_refs) > 1:
        out.add("spec", "only one of targetRefs or selector can be set")
    check_match_labels(selector, "spec.selector", out)
    if target_ref is not None:
        _check_target(target_ref, "spec.targetRef", out)
    for i, ref in enumerate(target_refs or ()):
        _check_target(ref, f"spec.targetRefs[{i}]", out)


def check_export_to(
    namespace: str,
    export_to: Sequence[str] | None,
    out: Issues,
    *,
    service_entry: bool = False,
) -> None:
    """`.`, `*`, `~` (ServiceEntry only) or namespace names; no duplicates; `*` alone."""
    if not export_to:
        return
    seen: set[str] = set()
    for i, entry in enumerate(export_to):
        where = f"spec.exportTo[{i}]"
        key = namespace if entry == "." and namespace else entry
        if key in seen:
            out.add(where, f"duplicate exportTo entry {entry!r}")
            continue
        seen.add(key)
        if entry in (".", "*") or (entry == "~" and service_entry):
            continue
        if not is_dns1123_label(entry):
            allowed = "'.', '*', '~'" if service_entry else "'.', '*'"
            out.add(
                where, f"exportTo entry {entry!r} is invalid: use {allowed} or a namespace name"
            )
    if "*" in seen and len(export_to) > 1:
        out.add("spec.exportTo", "'*' exports to every namespace: list it alone")
    if "~" in seen and len(export_to) > 1:
        out.add("spec.exportTo", "'~' exports to no one: list it alone")
