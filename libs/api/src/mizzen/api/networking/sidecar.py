"""Sidecar: the ingress and egress listeners of the workloads it selects."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from mizzen.api.base import IstioModel, UInt32
from mizzen.api.networking.common import Destination, WorkloadSelector
from mizzen.api.networking.gateway import ServerTLSSettings
from mizzen.api.networking.traffic_policy import ConnectionPoolSettings
from mizzen.api.resource import Resource

__all__ = [
    "IstioEgressListener",
    "IstioIngressListener",
    "OutboundTrafficPolicy",
    "Sidecar",
    "SidecarPort",
    "SidecarSpec",
]

CaptureMode = Literal["DEFAULT", "IPTABLES", "NONE"]


class SidecarPort(IstioModel):
    """A listener port (all fields optional here, unlike Gateway's)."""

    number: UInt32 | None = None
    protocol: str | None = None
    name: str | None = None
    target_port: UInt32 | None = None


class IstioIngressListener(IstioModel):
    """A listener for inbound traffic to the workload."""

    port: SidecarPort
    bind: str | None = None
    capture_mode: CaptureMode | None = None
    default_endpoint: str | None = None
    tls: ServerTLSSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None


class IstioEgressListener(IstioModel):
    """A listener for outbound traffic, and the hosts it may reach."""

    port: SidecarPort | None = None
    bind: str | None = None
    capture_mode: CaptureMode | None = None
    hosts: list[str]


class OutboundTrafficPolicy(IstioModel):
    """What to do with traffic to hosts not in the registry."""

    mode: Literal["REGISTRY_ONLY", "ALLOW_ANY"] | None = None
    egress_proxy: Destination | None = None


class SidecarSpec(IstioModel):
    """Listeners and outbound policy of the selected workloads."""

    workload_selector: WorkloadSelector | None = None
    ingress: list[IstioIngressListener] | None = None
    egress: list[IstioEgressListener] | None = None
    inbound_connection_pool: ConnectionPoolSettings | None = None
    outbound_traffic_policy: OutboundTrafficPolicy | None = None


class Sidecar(Resource):
    """networking.istio.io Sidecar."""

    KIND: ClassVar[str] = "Sidecar"
    GROUP: ClassVar[str] = "networking.istio.io"

    spec: SidecarSpec = Field(default_factory=SidecarSpec)
