"""The Istio API as typed models: parsing YAML/JSON and validating as Istio does.

    from mizzen.api import parse_documents, ValidationError

    try:
        resources = parse_documents(text, source="routes.yaml")
    except ValidationError as exc:
        for error in exc.errors:  # FieldError: source, document_index, kind, ..., path
            print(error)

Every resource is an immutable pydantic model (`VirtualService`, `DestinationRule`, ...);
`resource.to_dict()` / `resource.to_yaml()` give back its YAML shape. `KINDS` and
`lookup_kind()` describe the kinds, their plural and short names.
"""

from __future__ import annotations

from mizzen.api.errors import ApiError, FieldError, ValidationError
from mizzen.api.kinds import KINDS, KindInfo, all_kinds, lookup_kind
from mizzen.api.meta import ObjectMeta
from mizzen.api.networking.destination_rule import DestinationRule
from mizzen.api.networking.gateway import Gateway
from mizzen.api.networking.service_entry import ServiceEntry
from mizzen.api.networking.sidecar import Sidecar
from mizzen.api.networking.virtual_service import VirtualService
from mizzen.api.networking.workload_entry import WorkloadEntry, WorkloadGroup
from mizzen.api.parse import parse_document, parse_documents
from mizzen.api.resource import Resource
from mizzen.api.security.authorization_policy import AuthorizationPolicy
from mizzen.api.security.peer_authentication import PeerAuthentication
from mizzen.api.security.request_authentication import RequestAuthentication
from mizzen.api.telemetry import Telemetry

__all__ = [
    "KINDS",
    "ApiError",
    "AuthorizationPolicy",
    "DestinationRule",
    "FieldError",
    "Gateway",
    "KindInfo",
    "ObjectMeta",
    "PeerAuthentication",
    "RequestAuthentication",
    "Resource",
    "ServiceEntry",
    "Sidecar",
    "Telemetry",
    "ValidationError",
    "VirtualService",
    "WorkloadEntry",
    "WorkloadGroup",
    "all_kinds",
    "lookup_kind",
    "parse_document",
    "parse_documents",
    "to_yaml",
]


def to_yaml(resources: list[Resource]) -> str:
    """Dump resources as one multi-document YAML stream (`---` between documents)."""
    from mizzen.api.resource import to_yaml_text

    return "---\n".join(to_yaml_text(r.to_dict()) for r in resources)
