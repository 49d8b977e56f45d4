"""AuthorizationPolicy rules: actions, providers, rule well-formedness, condition keys."""

from __future__ import annotations

import re
from collections.abc import Sequence

from mizzen.api.hosts import check_ip_or_cidr
from mizzen.api.rules.common import check_targets
from mizzen.api.rules.issues import Issues
from mizzen.api.security.authorization_policy import (
    AuthorizationPolicy,
    Condition,
    Operation,
    Rule,
    Source,
)

__all__ = ["check_authorization_policy"]

PLAIN_KEYS = frozenset({
    "source.namespace", "source.principal", "request.auth.principal",
    "request.auth.audiences", "request.auth.presenter", "connection.sni",
})  # fmt: skip
IP_KEYS = frozenset({"source.ip", "remote.ip", "destination.ip"})
_HEADER_KEY = re.compile(r"request\.headers\[[^\[\]]+\]")
_CLAIM_KEY = re.compile(r"request\.auth\.claims(?:\[[^\[\]]+\])+")
_KNOWN = (
    "request.headers[NAME], request.auth.claims[NAME], source.ip, remote.ip, destination.ip, "
    "destination.port, source.namespace, source.principal, request.auth.principal, "
    "request.auth.audiences, request.auth.presenter, connection.sni, experimental.envoy.filters.*"
)


def check_authorization_policy(ap: AuthorizationPolicy, out: Issues) -> None:
    """CUSTOM needs a provider (and only CUSTOM may have one); every rule well-formed."""
    spec = ap.spec
    check_targets(spec.selector, spec.target_ref, spec.target_refs, out)
    action = spec.action or "ALLOW"
    if action == "CUSTOM":
        if spec.provider is None:
            out.add("spec.provider", "action CUSTOM requires a provider (the external authorizer)")
        elif not spec.provider.name:
            out.add("spec.provider.name", "provider name must be set")
    elif spec.provider is not None:
        out.add("spec.provider", f"provider is allowed only with action CUSTOM, not {action}")
    for i, rule in enumerate(spec.rules or ()):
        _check_rule(rule, f"spec.rules[{i}]", out)


def _non_empty(values: Sequence[str] | None, path: str, out: Issues) -> None:
    for i, value in enumerate(values or ()):
        if not value:
            out.add(f"{path}[{i}]", "empty value not allowed")


def _ports(values: Sequence[str] | None, path: str, out: Issues) -> None:
    for i, value in enumerate(values or ()):
        if not (value.isascii() and value.isdigit() and 0 < int(value) <= 65535):
            out.add(f"{path}[{i}]", f"invalid port {value!r}: must be a number in 1..65535")


def _ips(values: Sequence[str] | None, path: str, out: Issues) -> None:
    for i, value in enumerate(values or ()):
        out.add_if(f"{path}[{i}]", check_ip_or_cidr(value))


def _check_source(source: Source, path: str, out: Issues) -> None:
    fields = source.model_dump(by_alias=True, exclude_none=True)
    if not any(fields.values()):
        out.add(path, "source must not be empty: set principals, namespaces, ipBlocks, ...")
    for alias, values in fields.items():
        _non_empty(values, f"{path}.{alias}", out)
    for alias in ("ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"):
        _ips(fields.get(alias), f"{path}.{alias}", out)
    if (source.service_accounts or source.not_service_accounts) and (
        source.principals or source.not_principals or source.namespaces or source.not_namespaces
    ):
        out.add(path, "Cannot set serviceAccounts with namespaces or principals")


def _check_operation(operation: Operation, path: str, out: Issues) -> None:
    fields = operation.model_dump(by_alias=True, exclude_none=True)
    if not any(fields.values()):
        out.add(path, "operation must not be empty: set hosts, ports, methods or paths")
    for alias, values in fields.items():
        _non_empty(values, f"{path}.{alias}", out)
    _ports(operation.ports, f"{path}.ports", out)
    _ports(operation.not_ports, f"{path}.notPorts", out)


def _check_condition(condition: Condition, path: str, out: Issues) -> None:
    key = condition.key
    if not condition.values and not condition.not_values:
        out.add(path, f"condition on {key!r} needs values or notValues")
    for field, values in (("values", condition.values), ("notValues", condition.not_values)):
        where = f"{path}.{field}"
        _non_empty(values, where, out)
        if key in IP_KEYS:
            _ips(values, where, out)
        elif key == "destination.port":
            _ports(values, where, out)
    if not key:
        out.add(f"{path}.key", "key must not be empty")
    elif key.startswith("request.headers"):
        if _HEADER_KEY.fullmatch(key) is None:
            out.add(f"{path}.key", f"invalid key {key!r}: use request.headers[NAME]")
    elif key.startswith("request.auth.claims"):
        if _CLAIM_KEY.fullmatch(key) is None:
            out.add(
                f"{path}.key",
                f"invalid key {key!r}: use request.auth.claims[NAME] "
                "(nested: request.auth.claims[a][b])",
            )
    elif not (
        key in PLAIN_KEYS
        or key in IP_KEYS
        or key == "destination.port"
        or key.startswith("experimental.envoy.filters.")
    ):
        out.add(f"{path}.key", f"unknown attribute {key!r}: use one of {_KNOWN}")


def _check_rule(rule: Rule, path: str, out: Issues) -> None:
    if rule.from_ is not None and not rule.from_:
        out.add(f"{path}.from", "from must not be empty when set")
    for i, source in enumerate(rule.from_ or ()):
        where = f"{path}.from[{i}].source"
        if source.source is None:
            out.add(where, "source must be set")
        else:
            _check_source(source.source, where, out)
    if rule.to is not None and not rule.to:
        out.add(f"{path}.to", "to must not be empty when set")
    for i, to in enumerate(rule.to or ()):
        where = f"{path}.to[{i}].operation"
        if to.operation is None:
            out.add(where, "operation must be set")
        else:
            _check_operation(to.operation, where, out)
    for i, condition in enumerate(rule.when or ()):
        _check_condition(condition, f"{path}.when[{i}]", out)
