"""Selectors and target references shared by the policy kinds."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from mizzen.api.base import IstioModel

__all__ = ["LabelSelector", "PolicyTargetReference"]

LabelValue = Annotated[str, Field(max_length=63)]


class LabelSelector(IstioModel):
    """Workloads chosen by `matchLabels` (policy kinds and DestinationRule)."""

    match_labels: dict[str, LabelValue] | None = Field(default=None, max_length=4096)


class PolicyTargetReference(IstioModel):
    """A Gateway API style reference to the resource a policy attaches to."""

    group: str | None = Field(
        default=None,
        max_length=253,
        pattern=r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    )
    kind: str = Field(min_length=1, max_length=63, pattern=r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = None
