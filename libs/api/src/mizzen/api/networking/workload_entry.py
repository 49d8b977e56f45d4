"""WorkloadEntry and WorkloadGroup: workloads outside Kubernetes (VMs, bare metal)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from mizzen.api.base import IstioModel, UInt32
from mizzen.api.resource import Resource

__all__ = [
    "ExecHealthCheckConfig",
    "GrpcHealthCheckConfig",
    "HTTPHeader",
    "HTTPHealthCheckConfig",
    "ObjectMetaTemplate",
    "ReadinessProbe",
    "TCPHealthCheckConfig",
    "WorkloadEntry",
    "WorkloadEntrySpec",
    "WorkloadGroup",
    "WorkloadGroupSpec",
]

NonNegativeInt32 = Annotated[int, Field(ge=0, le=2147483647)]


class WorkloadEntrySpec(IstioModel):
    """Address, ports and identity of one workload."""

    address: str | None = Field(default=None, max_length=256)
    ports: dict[str, UInt32] | None = Field(default=None, max_length=128)
    labels: dict[str, str] | None = Field(default=None, max_length=256)
    network: str | None = Field(default=None, max_length=2048)
    locality: str | None = Field(default=None, max_length=2048)
    weight: UInt32 | None = None
    service_account: str | None = Field(default=None, max_length=253)


class ObjectMetaTemplate(IstioModel):
    """Labels and annotations copied onto generated WorkloadEntries."""

    labels: dict[str, str] | None = Field(default=None, max_length=256)
    annotations: dict[str, str] | None = Field(default=None, max_length=256)


class HTTPHeader(IstioModel):
    """A header sent with an HTTP health check."""

    name: str | None = Field(default=None, pattern=r"^[-_A-Za-z0-9]+$")
    value: str | None = None


class HTTPHealthCheckConfig(IstioModel):
    """An HTTP GET health check."""

    path: str | None = None
    port: UInt32
    host: str | None = None
    scheme: str | None = None
    http_headers: list[HTTPHeader] | None = None


class TCPHealthCheckConfig(IstioModel):
    """A TCP connect health check."""

    host: str | None = None
    port: UInt32


class ExecHealthCheckConfig(IstioModel):
    """A command run in the workload as a health check."""

    command: list[Annotated[str, Field(min_length=1)]]


class GrpcHealthCheckConfig(IstioModel):
    """A gRPC health check."""

    port: UInt32 | None = None
    service: str | None = None


class ReadinessProbe(IstioModel):
    """How the agent decides the workload is ready: exactly one check method."""

    initial_delay_seconds: NonNegativeInt32 | None = None
    timeout_seconds: NonNegativeInt32 | None = None
    period_seconds: NonNegativeInt32 | None = None
    success_threshold: NonNegativeInt32 | None = None
    failure_threshold: NonNegativeInt32 | None = None
    http_get: HTTPHealthCheckConfig | None = None
    tcp_socket: TCPHealthCheckConfig | None = None
    exec: ExecHealthCheckConfig | None = None
    grpc: GrpcHealthCheckConfig | None = None


class WorkloadGroupSpec(IstioModel):
    """The template of the WorkloadEntries of a group, and their readiness probe."""

    metadata: ObjectMetaTemplate | None = None
    template: WorkloadEntrySpec
    probe: ReadinessProbe | None = None


class WorkloadEntry(Resource):
    """networking.istio.io WorkloadEntry."""

    KIND: ClassVar[str] = "WorkloadEntry"
    GROUP: ClassVar[str] = "networking.istio.io"

    spec: WorkloadEntrySpec


class WorkloadGroup(Resource):
    """networking.istio.io WorkloadGroup."""

    KIND: ClassVar[str] = "WorkloadGroup"
    GROUP: ClassVar[str] = "networking.istio.io"

    spec: WorkloadGroupSpec
