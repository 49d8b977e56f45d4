"""Messages shared by several networking.istio.io kinds."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mizzen.api.base import Double, IstioModel, UInt32

__all__ = [
    "Destination",
    "HeaderOperations",
    "Headers",
    "Percent",
    "PortSelector",
    "StringMatch",
    "WorkloadSelector",
]


class PortSelector(IstioModel):
    """A port of a service, by number."""

    number: UInt32 | None = None


class Destination(IstioModel):
    """A service (and optionally subset and port) that traffic is sent to."""

    host: str
    subset: str | None = None
    port: PortSelector | None = None


class StringMatch(IstioModel):
    """Exactly one of exact, prefix or regex (RE2 syntax)."""

    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None


class HeaderOperations(IstioModel):
    """Headers to set, add or remove."""

    set: dict[str, str] | None = None
    add: dict[str, str] | None = None
    remove: list[str] | None = None


class Headers(IstioModel):
    """Header manipulation for requests and responses."""

    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class Percent(IstioModel):
    """A percentage in [0, 100]."""

    value: Double | None = None


class WorkloadSelector(IstioModel):
    """Workloads chosen by labels (networking kinds use `labels`, not `matchLabels`)."""

    labels: dict[str, Annotated[str, Field(max_length=63)]] | None = Field(
        default=None, max_length=256
    )
