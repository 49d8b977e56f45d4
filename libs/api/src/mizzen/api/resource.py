"""The envelope every Istio resource shares: apiVersion, kind, metadata, status."""

from __future__ import annotations

from typing import Any, ClassVar, Self

import yaml
from pydantic import Field, JsonValue, model_validator

from mizzen.api.base import IstioModel
from mizzen.api.meta import ObjectMeta

__all__ = ["Resource", "age_order"]


class Resource(IstioModel):
    """Base of the eleven resource kinds.

    Subclasses declare `spec` and the class variables `KIND` and `GROUP`. `status` is
    kept as the JSON it was (Istio marks it `x-kubernetes-preserve-unknown-fields`).
    Instances are immutable; `to_dict()`/`to_yaml()` give back exactly the fields that
    were set, in camelCase, so a parsed resource round-trips.
    """

    KIND: ClassVar[str] = ""
    GROUP: ClassVar[str] = ""

    api_version: str
    kind: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    status: dict[str, JsonValue] | None = None

    @model_validator(mode="after")
    def _kind_matches(self) -> Self:
        if self.KIND and self.kind != self.KIND:
            raise ValueError(f"kind must be {self.KIND}, not {self.kind}")
        if self.GROUP and self.api_version.rpartition("/")[0] != self.GROUP:
            raise ValueError(f"apiVersion must be in group {self.GROUP}, not {self.api_version}")
        return self

    @property
    def name(self) -> str:
        """`metadata.name` ("" when unset)."""
        return self.metadata.name or ""

    @property
    def namespace(self) -> str:
        """`metadata.namespace` ("" when unset)."""
        return self.metadata.namespace or ""

    @property
    def version(self) -> str:
        """The version part of `apiVersion` (`v1` of `networking.istio.io/v1`)."""
        return self.api_version.rpartition("/")[2]

    def to_yaml(self) -> str:
        """Return the resource as one YAML document (block style, keys in model order)."""
        return to_yaml_text(self.to_dict())


def age_order(resource: Resource) -> tuple[bool, str, str, str]:
    """Sort key: oldest first by creationTimestamp (resources without one last), then
    namespace and name. This is the order in which Istio lets the older of two conflicting
    resources win, and merges several resources for one host."""
    stamp = resource.metadata.creation_timestamp
    return (stamp is None, stamp or "", resource.namespace, resource.name)


def to_yaml_text(data: Any) -> str:
    """Dump plain data as block-style YAML, keeping key order."""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
