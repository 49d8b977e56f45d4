"""ServiceEntry: services added to the mesh's registry by hand."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from mizzen.api.base import IstioModel, UInt32
from mizzen.api.networking.common import WorkloadSelector
from mizzen.api.networking.workload_entry import WorkloadEntrySpec
from mizzen.api.resource import Resource

__all__ = ["ServiceEntry", "ServiceEntrySpec", "ServicePort"]


class ServicePort(IstioModel):
    """A port of the service."""

    number: UInt32
    protocol: str | None = Field(default=None, max_length=256)
    name: str = Field(max_length=256)
    target_port: UInt32 | None = None


class ServiceEntrySpec(IstioModel):
    """Hosts, ports, resolution and endpoints of a service."""

    hosts: list[str] = Field(min_length=1, max_length=256)
    addresses: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=256
    )
    ports: list[ServicePort] | None = Field(default=None, max_length=256)
    location: Literal["MESH_EXTERNAL", "MESH_INTERNAL"] | None = None
    resolution: Literal["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"] | None = None
    endpoints: list[WorkloadEntrySpec] | None = Field(default=None, max_length=4096)
    workload_selector: WorkloadSelector | None = None
    export_to: list[str] | None = None
    subject_alt_names: list[str] | None = None


class ServiceEntry(Resource):
    """networking.istio.io ServiceEntry."""

    KIND: ClassVar[str] = "ServiceEntry"
    GROUP: ClassVar[str] = "networking.istio.io"

    spec: ServiceEntrySpec
