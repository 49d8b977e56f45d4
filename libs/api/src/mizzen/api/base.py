"""The base of every Istio model: frozen, camelCase aliases, unknown fields rejected."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Double", "Int32", "Int64", "IstioModel", "UInt32", "camel_alias"]


def camel_alias(name: str) -> str:
    """Return the YAML/JSON name of a Python field name.

    `export_to` -> `exportTo`, `consecutive_5xx_errors` -> `consecutive5xxErrors`,
    `from_` -> `from` (a trailing underscore only dodges a Python keyword).
    """
    parts = name.rstrip("_").split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


class IstioModel(BaseModel):
    """Base of all API models.

    Instances are immutable. Input is read by alias only (the YAML spelling), strictly
    (no string-to-number coercion, as the Kubernetes API server does), and unknown
    fields are errors.
    """

    model_config = ConfigDict(
        alias_generator=camel_alias,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
        extra="forbid",
        frozen=True,
        strict=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """Return the YAML/JSON shape: camelCase keys, fields never set left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


UInt32 = Annotated[int, Field(ge=0, le=4294967295)]
Int32 = Annotated[int, Field(ge=-2147483648, le=2147483647)]
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
Double = Annotated[float, Field(allow_inf_nan=False)]
