"""AuthorizationPolicy: who may do what to the selected workloads."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from mizzen.api.base import IstioModel
from mizzen.api.resource import Resource
from mizzen.api.security.common import LabelSelector, PolicyTargetReference

__all__ = [
    "AuthorizationPolicy",
    "AuthorizationPolicySpec",
    "Condition",
    "ExtensionProvider",
    "Operation",
    "Rule",
    "RuleFrom",
    "RuleTo",
    "Source",
]

ServiceAccount = Annotated[str, Field(max_length=320)]


class Source(IstioModel):
    """Properties of the request's origin (all listed fields must match)."""

    principals: list[str] | None = None
    not_principals: list[str] | None = None
    request_principals: list[str] | None = None
    not_request_principals: list[str] | None = None
    namespaces: list[str] | None = None
    not_namespaces: list[str] | None = None
    service_accounts: list[ServiceAccount] | None = Field(default=None, max_length=16)
    not_service_accounts: list[ServiceAccount] | None = Field(default=None, max_length=16)
    ip_blocks: list[str] | None = None
    not_ip_blocks: list[str] | None = None
    remote_ip_blocks: list[str] | None = None
    not_remote_ip_blocks: list[str] | None = None
    trust_domains: list[str] | None = None
    not_trust_domains: list[str] | None = None


class Operation(IstioModel):
    """Properties of the request itself."""

    hosts: list[str] | None = None
    not_hosts: list[str] | None = None
    ports: list[str] | None = None
    not_ports: list[str] | None = None
    methods: list[str] | None = None
    not_methods: list[str] | None = None
    paths: list[str] | None = None
    not_paths: list[str] | None = None


class RuleFrom(IstioModel):
    """One source a rule matches."""

    source: Source | None = None


class RuleTo(IstioModel):
    """One operation a rule matches."""

    operation: Operation | None = None


class Condition(IstioModel):
    """An extra condition on a request attribute (`key`)."""

    key: str
    values: list[str] | None = None
    not_values: list[str] | None = None


class Rule(IstioModel):
    """A match: any of `from`, and any of `to`, and all of `when`."""

    from_: list[RuleFrom] | None = Field(default=None, max_length=512)
    to: list[RuleTo] | None = None
    when: list[Condition] | None = None


class ExtensionProvider(IstioModel):
    """The external authorizer of a CUSTOM policy, by mesh-config provider name."""

    name: str | None = None


class AuthorizationPolicySpec(IstioModel):
    """Rules, the action taken when one matches, and what the policy applies to."""

    selector: LabelSelector | None = None
    target_ref: PolicyTargetReference | None = None
    target_refs: list[PolicyTargetReference] | None = Field(default=None, max_length=16)
    rules: list[Rule] | None = Field(default=None, max_length=512)
    action: Literal["ALLOW", "DENY", "AUDIT", "CUSTOM"] | None = None
    provider: ExtensionProvider | None = None


class AuthorizationPolicy(Resource):
    """security.istio.io AuthorizationPolicy."""

    KIND: ClassVar[str] = "AuthorizationPolicy"
    GROUP: ClassVar[str] = "security.istio.io"

    spec: AuthorizationPolicySpec = Field(default_factory=AuthorizationPolicySpec)
