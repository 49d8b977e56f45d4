"""Kubernetes object metadata, the part of it that Istio resources carry."""

from __future__ import annotations

from pydantic import JsonValue

from mizzen.api.base import Int64, IstioModel

__all__ = ["ObjectMeta"]


class ObjectMeta(IstioModel):
    """`metadata` of a resource.

    `name` is required on input (checked by the rules, with the field path); the
    server-owned fields (`resourceVersion`, `generation`, `uid`, `creationTimestamp`)
    are accepted so that stored resources round-trip, and are never interpreted here.

    The fields the Kubernetes API server fills in (`managedFields`, `ownerReferences`,
    `finalizers`, `generateName`, `selfLink`, `deletionTimestamp`,
    `deletionGracePeriodSeconds`) are accepted too, so that `kubectl get -o yaml` output
    can be applied as it is. Mizzen never interprets them: `managedFields` and
    `ownerReferences` are kept as the opaque JSON they were, and every one of them comes
    back unchanged from `to_dict()`.
    """

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    resource_version: str | None = None
    generation: Int64 | None = None
    uid: str | None = None
    creation_timestamp: str | None = None
    self_link: str | None = None
    deletion_timestamp: str | None = None
    deletion_grace_period_seconds: Int64 | None = None
    finalizers: list[str] | None = None
    owner_references: list[JsonValue] | None = None
    managed_fields: list[JsonValue] | None = None
