"""DestinationRule: policies for traffic to a service after routing."""

from __future__ import annotations

from typing import ClassVar

from mizzen.api.base import IstioModel
from mizzen.api.networking.traffic_policy import TrafficPolicy
from mizzen.api.resource import Resource
from mizzen.api.security.common import LabelSelector

__all__ = ["DestinationRule", "DestinationRuleSpec", "Subset"]


class Subset(IstioModel):
    """A named set of endpoints of a service, chosen by labels."""

    name: str
    labels: dict[str, str] | None = None
    traffic_policy: TrafficPolicy | None = None


class DestinationRuleSpec(IstioModel):
    """Policies for one host."""

    host: str
    traffic_policy: TrafficPolicy | None = None
    subsets: list[Subset] | None = None
    export_to: list[str] | None = None
    workload_selector: LabelSelector | None = None


class DestinationRule(Resource):
    """networking.istio.io DestinationRule."""

    KIND: ClassVar[str] = "DestinationRule"
    GROUP: ClassVar[str] = "networking.istio.io"

    spec: DestinationRuleSpec
