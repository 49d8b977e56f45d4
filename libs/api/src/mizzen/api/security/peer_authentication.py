"""PeerAuthentication: what mutual TLS a workload accepts."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from mizzen.api.base import IstioModel
from mizzen.api.resource import Resource
from mizzen.api.security.common import LabelSelector

__all__ = ["MutualTLS", "PeerAuthentication", "PeerAuthenticationSpec"]

MtlsMode = Literal["UNSET", "DISABLE", "PERMISSIVE", "STRICT"]


class MutualTLS(IstioModel):
    """The mTLS mode: UNSET (inherit), DISABLE, PERMISSIVE or STRICT."""

    mode: MtlsMode | None = None


class PeerAuthenticationSpec(IstioModel):
    """mTLS mode for the selected workloads, optionally per port."""

    selector: LabelSelector | None = None
    mtls: MutualTLS | None = None
    port_level_mtls: dict[str, MutualTLS] | None = Field(default=None, min_length=1)


class PeerAuthentication(Resource):
    """security.istio.io PeerAuthentication."""

    KIND: ClassVar[str] = "PeerAuthentication"
    GROUP: ClassVar[str] = "security.istio.io"

    spec: PeerAuthenticationSpec = Field(default_factory=PeerAuthenticationSpec)
