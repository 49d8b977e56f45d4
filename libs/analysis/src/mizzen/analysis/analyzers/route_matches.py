"""virtualservice.MatchesAnalyzer: rules and matches of a VirtualService that never apply.

Rules are tried in order and the first match wins, so:

- a rule after a rule without matches (a catch-all) is never used: IST0130
  ("only the last rule can have no matches" / "route without matches defined before");
- a match equal to an earlier one (names aside), or covered by an earlier HTTP match, is
  never used: IST0131; a rule all of whose matches are such is never used: IST0130
  ("all matches used by prior rules").

"Covered" is decided on the match conditions: the earlier match must impose nothing the
later one does not (a `uri` prefix of `/` imposes nothing; a prefix covers a longer prefix
or an exact value that starts with it; header, query and label conditions of the earlier
match must all be implied by the later one). Istio's own check (pilot's validation, run by
istioctl analyze) only compares URI prefixes with otherwise identical conditions; this one
also finds matches after a catch-all such as `uri: {prefix: /}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from mizzen.analysis.analyzer import Analyzer, Context
from mizzen.analysis.messages import (
    VIRTUAL_SERVICE_INEFFECTIVE_MATCH,
    VIRTUAL_SERVICE_UNREACHABLE_RULE,
    Message,
    go_quote,
)
from mizzen.api import VirtualService
from mizzen.api.networking.virtual_service import HTTPRoute, TCPRoute, TLSRoute

__all__ = ["ANALYZER", "covers"]

_STRING_CONDITIONS = ("method", "authority", "scheme")
_MAP_CONDITIONS = ("headers", "queryParams")
_IGNORED = {"name", "statPrefix"}
_HANDLED = {
    "uri", "ignoreUriCase", "port", "sourceLabels", "gateways", "sourceNamespace",
    "withoutHeaders", *_STRING_CONDITIONS, *_MAP_CONDITIONS, *_IGNORED,
}  # fmt: skip


def _string_covers(earlier: Mapping[str, str] | None, later: Mapping[str, str] | None) -> bool:
    """True when every string the later StringMatch accepts, the earlier one accepts."""
    if not earlier:
        return True
    if not later:
        return False
    if earlier == later:
        return True
    prefix = earlier.get("prefix")
    if prefix is None:
        return False
    value = later.get("prefix", later.get("exact"))
    return value is not None and value.startswith(prefix)


def _uri(match: Mapping[str, Any]) -> Mapping[str, str] | None:
    uri: Mapping[str, str] | None = match.get("uri")
    return None if uri == {"prefix": "/"} else uri  # every path starts with "/"


def _lower(match: Mapping[str, str] | None) -> Mapping[str, str] | None:
    return {k: v.lower() for k, v in match.items()} if match else match


def _uri_covers(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> bool:
    if not earlier.get("ignoreUriCase"):
        return not later.get("ignoreUriCase") and _string_covers(_uri(earlier), _uri(later))
    return _string_covers(_lower(_uri(earlier)), _lower(_uri(later)))


def _strings_cover(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> bool:
    if not all(_string_covers(earlier.get(k), later.get(k)) for k in _STRING_CONDITIONS):
        return False
    for key in _MAP_CONDITIONS:
        mine, theirs = earlier.get(key) or {}, later.get(key) or {}
        if not all(_string_covers(v, theirs.get(k)) for k, v in mine.items()):
            return False
    return True


def _sources_cover(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> bool:
    if any(
        key in earlier and earlier[key] != later.get(key) for key in ("port", "sourceNamespace")
    ):
        return False
    labels, later_labels = earlier.get("sourceLabels") or {}, later.get("sourceLabels") or {}
    if any(later_labels.get(k) != v for k, v in labels.items()):
        return False
    gateways = earlier.get("gateways")
    return not gateways or set(later.get("gateways") or ["<any>"]) <= set(gateways)


def _absences_cover(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> bool:
    absent, later_absent = earlier.get("withoutHeaders") or {}, later.get("withoutHeaders") or {}
    return all(later_absent.get(k) == v for k, v in absent.items())


def _others_equal(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> bool:
    keys = (set(earlier) | set(later)) - _HANDLED
    return all(earlier.get(key) == later.get(key) for key in keys)


_CHECKS = (_others_equal, _uri_covers, _strings_cover, _sources_cover, _absences_cover)


def covers(earlier: Mapping[str, Any], later: Mapping[str, Any]) -> bool:
    """True when every request `later` (an HTTPMatchRequest as plain data) matches is also
    matched by `earlier`, so that `later` can never be the first to match."""
    return all(check(earlier, later) for check in _CHECKS)


def _key(match: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in match.items() if k != "name"}, sort_keys=True)


def _named(name: str | None, index: int) -> str:
    return go_quote(name) if name else f"#{index}"


_Rule = HTTPRoute | TCPRoute | TLSRoute


def _rule_name(rule: _Rule, index: int) -> str:
    return _named(rule.name if isinstance(rule, HTTPRoute) else None, index)


def _rules(
    ctx: Context, vs: VirtualService, field: str, rules: Sequence[_Rule]
) -> Iterator[Message]:
    """Istio's order of evaluation: the first rule with a matching match wins."""
    seen: dict[str, int] = {}
    earlier: list[tuple[int, dict[str, Any]]] = []
    catch_all = -1
    for i, rule in enumerate(rules):
        path, name = f"spec.{field}[{i}]", _rule_name(rule, i)
        if not rule.match:
            if catch_all >= 0:
                reason = "only the last rule can have no matches"
                yield ctx.report(VIRTUAL_SERVICE_UNREACHABLE_RULE, vs, path, name, reason)
            catch_all = i
            continue
        if catch_all >= 0:
            reason = "route without matches defined before"
            yield ctx.report(VIRTUAL_SERVICE_UNREACHABLE_RULE, vs, path, name, reason)
            continue
        unused = 0
        for j, match in enumerate(rule.match):
            data = match.to_dict()
            dup = seen.get(_key(data))
            if dup is None and isinstance(rule, HTTPRoute):  # only HTTP matches can cover others
                dup = next((r for r, e in earlier if covers(e, data)), None)
            if dup is not None:
                unused += 1
                yield ctx.report(
                    VIRTUAL_SERVICE_INEFFECTIVE_MATCH, vs, f"{path}.match[{j}]", name,
                    _named(data.get("name"), j), _rule_name(rules[dup], dup),
                )  # fmt: skip
                continue
            seen[_key(data)] = i
            earlier.append((i, data))
        if unused == len(rule.match):
            reason = "all matches used by prior rules"
            yield ctx.report(VIRTUAL_SERVICE_UNREACHABLE_RULE, vs, path, name, reason)


def _run(ctx: Context) -> Iterator[Message]:
    for vs in ctx.of(VirtualService):
        yield from _rules(ctx, vs, "http", vs.spec.http or [])
        yield from _rules(ctx, vs, "tcp", vs.spec.tcp or [])
        yield from _rules(ctx, vs, "tls", vs.spec.tls or [])


ANALYZER = Analyzer(
    name="virtualservice.MatchesAnalyzer",
    description="Checks for VirtualService rules and matches that can never be used because "
    "an earlier rule takes their traffic",
    codes=("IST0130", "IST0131"),
    inputs=("VirtualService",),
    needs_workloads=False,
    run=_run,
)
