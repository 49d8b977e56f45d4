"""Which rules check which kind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mizzen.api.resource import Resource
from mizzen.api.rules.authorization import check_authorization_policy
from mizzen.api.rules.destination_rule import check_destination_rule
from mizzen.api.rules.gateway import check_gateway
from mizzen.api.rules.issues import Issue, Issues
from mizzen.api.rules.meta import check_metadata
from mizzen.api.rules.security import check_peer_authentication, check_request_authentication
from mizzen.api.rules.sidecar import check_sidecar
from mizzen.api.rules.telemetry import check_telemetry
from mizzen.api.rules.virtual_service import check_virtual_service
from mizzen.api.rules.workloads import (
    check_service_entry,
    check_workload_entry,
    check_workload_group,
)

__all__ = ["check_resource"]

_CHECKS: dict[str, Callable[[Any, Issues], None]] = {
    "VirtualService": check_virtual_service,
    "DestinationRule": check_destination_rule,
    "Gateway": check_gateway,
    "ServiceEntry": check_service_entry,
    "Sidecar": check_sidecar,
    "WorkloadEntry": check_workload_entry,
    "WorkloadGroup": check_workload_group,
    "PeerAuthentication": check_peer_authentication,
    "RequestAuthentication": check_request_authentication,
    "AuthorizationPolicy": check_authorization_policy,
    "Telemetry": check_telemetry,
}


def check_resource(resource: Resource) -> list[Issue]:
    """Run the metadata rules and the rules of the resource's kind; return every problem."""
    out = Issues()
    check_metadata(resource.metadata, out)
    _CHECKS[resource.KIND](resource, out)
    return out.items
