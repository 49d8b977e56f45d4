"""Kubernetes object metadata, the part of it that Istio resources carry."""

from __future__ import annotations

from mizzen.api.base import Int64, IstioModel

__all__ = ["ObjectMeta"]


class ObjectMeta(IstioModel):
    """`metadata` of a resource.

    `name` is required on input (checked by the rules, with the field path); the
    server-owned fields (`resourceVersion`, `generation`, `uid`, `creationTimestamp`)
    are accepted so that stored resources round-trip, and are never interpreted here.
    """

    name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    resource_version: str | None = None
    generation: Int64 | None = None
    uid: str | None = None
    creation_timestamp: str | None = None
