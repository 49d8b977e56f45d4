"""What analysis reports: message types (Istio's codes), levels and messages.

Every `MessageType` Mizzen emits is listed here, once. Where Istio has a message for the
same problem, its code, name, level and template are Istio's (from Istio's
`pkg/config/analysis/msg/messages.yaml`); Mizzen's own findings use `MZ` codes.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from mizzen.api import Resource

__all__ = [
    "ANALYZER_SKIPPED",
    "CONFLICTING_GATEWAYS",
    "CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS",
    "GATEWAY_PORT_NOT_DEFINED_ON_SERVICE",
    "INTERNAL_ERROR",
    "MESSAGE_TYPES",
    "MTLS_POLICY_CONFLICT",
    "MULTIPLE_DESTINATION_RULES_FOR_HOST",
    "MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS",
    "NO_MATCHING_WORKLOADS_FOUND",
    "REFERENCED_RESOURCE_NOT_FOUND",
    "VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY",
    "VIRTUAL_SERVICE_INEFFECTIVE_MATCH",
    "VIRTUAL_SERVICE_UNREACHABLE_RULE",
    "Level",
    "Message",
    "MessageType",
    "ResourceRef",
    "go_list",
    "go_quote",
]


class Level(enum.Enum):
    """How serious a message is; `Error` sorts first."""

    ERROR = "Error"
    WARNING = "Warning"
    INFO = "Info"

    @property
    def severity(self) -> int:
        """0 for Error, 1 for Warning, 2 for Info: the sort order of messages."""
        return _SEVERITY[self]

    @classmethod
    def parse(cls, text: str) -> Level:
        """The level named `text` (any case); raises ValueError for anything else."""
        for level in cls:
            if level.value.lower() == text.lower():
                return level
        raise ValueError(f"unknown level {text!r}: use Error, Warning or Info")


_SEVERITY = {Level.ERROR: 0, Level.WARNING: 1, Level.INFO: 2}


@dataclass(frozen=True, slots=True, order=True)
class ResourceRef:
    """The resource a message is about, printed as istioctl does: `Kind namespace/name`."""

    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, resource: Resource) -> ResourceRef:
        """The reference of a resource (its namespace as given; analysis fills it first)."""
        return cls(resource.kind, resource.namespace, resource.name)

    def __str__(self) -> str:
        ident = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {ident}"


@dataclass(frozen=True, slots=True)
class MessageType:
    """One kind of finding: its code (`IST0101`), name, level and text template.

    `template` is a `str.format` pattern filled with the positional arguments of `at()`.
    """

    code: str
    name: str
    level: Level
    template: str
    description: str

    def at(self, resource: Resource | None, path: str, analyzer: str, *args: object) -> Message:
        """A message of this type about `resource` (None: about the analysis itself)."""
        ref = ResourceRef.of(resource) if resource is not None else None
        return Message(self, ref, path, self.template.format(*args), analyzer)


@dataclass(frozen=True, slots=True)
class Message:
    """One finding of one analyzer.

    Fields:
        type: what was found (code, name, level).
        resource: the resource it is about, or None for a note about the analysis itself.
        path: the field path where it applies (`spec.http[0].route[0].destination`), or "".
        text: the filled-in template.
        analyzer: the name of the analyzer that reported it.

    `str()` gives istioctl's line: `Error [IST0101] (VirtualService default/reviews) ...`.
    """

    type: MessageType
    resource: ResourceRef | None
    path: str
    text: str
    analyzer: str

    @property
    def code(self) -> str:
        """The message code, e.g. `IST0101`."""
        return self.type.code

    @property
    def level(self) -> Level:
        """The level of the message type."""
        return self.type.level

    def sort_key(self) -> tuple[Any, ...]:
        """Level (Error first), code, resource, path, text: the order istioctl prints."""
        ref = self.resource
        where = (ref.kind, ref.namespace, ref.name) if ref is not None else ("", "", "")
        return (self.level.severity, self.code, ref is not None, where, self.path, self.text)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON/YAML output (the fields of istioctl's `-o json`, plus path)."""
        data: dict[str, Any] = {
            "code": self.code,
            "level": self.level.value,
            "name": self.type.name,
            "message": self.text,
            "path": self.path,
            "analyzer": self.analyzer,
        }
        if self.resource is not None:
            data["resource"] = {
                "kind": self.resource.kind,
                "namespace": self.resource.namespace,
                "name": self.resource.name,
            }
        return data

    def __str__(self) -> str:
        head = f"{self.level.value} [{self.code}]"
        if self.resource is None:
            return f"{head} {self.text}"
        return f"{head} ({self.resource}) {self.text}"


def go_quote(value: str) -> str:
    """`value` in double quotes with escapes, as Go's `%q` prints it in Istio's messages."""
    return json.dumps(value, ensure_ascii=False)


def go_list(values: list[str]) -> str:
    """A list as Go's `%v` prints a `[]string`: `[a b c]`."""
    return "[" + " ".join(values) + "]"


def _istio(code: str, name: str, level: Level, template: str, description: str) -> MessageType:
    return MessageType(code, name, level, template, description)


INTERNAL_ERROR = _istio(
    "IST0001", "InternalError", Level.ERROR, "Internal error: {}",
    "There was an internal error in the toolchain. This is almost always a bug in the "
    "implementation.",
)  # fmt: skip
REFERENCED_RESOURCE_NOT_FOUND = _istio(
    "IST0101", "ReferencedResourceNotFound", Level.ERROR, "Referenced {} not found: {}",
    "A resource being referenced does not exist.",
)  # fmt: skip
CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS = _istio(
    "IST0109", "ConflictingMeshGatewayVirtualServiceHosts", Level.ERROR,
    "The VirtualServices {} associated with mesh gateway define the same host {} which can "
    "lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices "
    "into a single resource.",
    "Conflicting hosts on VirtualServices associated with mesh gateway",
)  # fmt: skip
MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS = _istio(
    "IST0111", "MultipleSidecarsWithoutWorkloadSelectors", Level.ERROR,
    "The Sidecars {} in namespace {} have no workload selector, which can lead to undefined "
    "behavior.",
    "More than one sidecar resource in a namespace has no workload selector",
)  # fmt: skip
MTLS_POLICY_CONFLICT = _istio(
    "IST0113", "MTLSPolicyConflict", Level.ERROR,
    "A DestinationRule and Policy are in conflict with regards to mTLS for host {}. The "
    "DestinationRule {} specifies that mTLS must be {} but the Policy object {} specifies {}.",
    "A DestinationRule and Policy are in conflict with regards to mTLS.",
)  # fmt: skip
NO_MATCHING_WORKLOADS_FOUND = _istio(
    "IST0127", "NoMatchingWorkloadsFound", Level.WARNING,
    "No matching workloads for this resource with the following labels: {}",
    "There aren't workloads matching the resource labels",
)  # fmt: skip
VIRTUAL_SERVICE_UNREACHABLE_RULE = _istio(
    "IST0130", "VirtualServiceUnreachableRule", Level.WARNING,
    "VirtualService rule {} not used ({}).",
    "A VirtualService rule will never be used because a previous rule uses the same match.",
)  # fmt: skip
VIRTUAL_SERVICE_INEFFECTIVE_MATCH = _istio(
    "IST0131", "VirtualServiceIneffectiveMatch", Level.INFO,
    "VirtualService rule {} match {} is not used (duplicate/overlapping match in rule {}).",
    "A VirtualService rule match duplicates a match in a previous rule.",
)  # fmt: skip
VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY = _istio(
    "IST0132", "VirtualServiceHostNotFoundInGateway", Level.WARNING,
    "one or more host {} defined in VirtualService {} not found in Gateway {}.",
    "Host defined in VirtualService not found in Gateway.",
)  # fmt: skip
CONFLICTING_GATEWAYS = _istio(
    "IST0145", "ConflictingGateways", Level.ERROR,
    "Conflict with gateways {} (workload selector {}, port {}, hosts {}).",
    "Gateway should not have the same selector, port and matched hosts of server",
)  # fmt: skip
GATEWAY_PORT_NOT_DEFINED_ON_SERVICE = _istio(
    "IST0162", "GatewayPortNotDefinedOnService", Level.WARNING,
    # Istio's text names the Kubernetes Service of the gateway pods; Mizzen knows the ports
    # its gateway workloads registered, so the text says that instead.
    "The gateway is listening on a target port (port {}) that is not defined on the "
    "workload instances it selects (selector {}). Traffic to that port will not be served.",
    "Gateway port not exposed by service",
)  # fmt: skip

MULTIPLE_DESTINATION_RULES_FOR_HOST = MessageType(
    "MZ0001", "MultipleDestinationRulesForHost", Level.WARNING,
    "The DestinationRules {} define the same host {}. They are merged: subsets are combined "
    "(the first definition of a subset name wins) and only the oldest traffic policy "
    "applies{}. Merge them into a single resource.",
    "Several DestinationRules in one namespace apply to the same host and workloads.",
)  # fmt: skip
ANALYZER_SKIPPED = MessageType(
    "MZ0002", "AnalyzerSkipped", Level.INFO,
    "Analyzer {} was skipped: {}",
    "An analyzer could not run because an input it needs was not given.",
)  # fmt: skip

MESSAGE_TYPES: tuple[MessageType, ...] = (
    INTERNAL_ERROR,
    REFERENCED_RESOURCE_NOT_FOUND,
    CONFLICTING_MESH_GATEWAY_VIRTUAL_SERVICE_HOSTS,
    MULTIPLE_SIDECARS_WITHOUT_WORKLOAD_SELECTORS,
    MTLS_POLICY_CONFLICT,
    NO_MATCHING_WORKLOADS_FOUND,
    VIRTUAL_SERVICE_UNREACHABLE_RULE,
    VIRTUAL_SERVICE_INEFFECTIVE_MATCH,
    VIRTUAL_SERVICE_HOST_NOT_FOUND_IN_GATEWAY,
    CONFLICTING_GATEWAYS,
    GATEWAY_PORT_NOT_DEFINED_ON_SERVICE,
    MULTIPLE_DESTINATION_RULES_FOR_HOST,
    ANALYZER_SKIPPED,
)
