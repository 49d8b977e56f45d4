"""Stored documents: what is written for a resource, and how it is read back."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from mizzen.api import FieldError, Resource, ValidationError, parse_document
from mizzen.configstore.errors import InvalidConfig

# Fields the store owns: never compared to tell whether a user changed something.
_SERVER_FIELDS = ("resourceVersion", "generation", "uid", "creationTimestamp")


def encode(document: dict[str, Any]) -> bytes:
    """Serialize a stored document compactly (key order kept: it is the model's order)."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_json(value: bytes) -> dict[str, Any]:
    """Parse stored JSON (a store holds only what :func:`encode` wrote)."""
    data: dict[str, Any] = json.loads(value)
    return data


def user_view(document: dict[str, Any]) -> dict[str, Any]:
    """The document without server-owned metadata: what a user's change is compared on."""
    metadata = {k: v for k, v in document.get("metadata", {}).items() if k not in _SERVER_FIELDS}
    return {**document, "metadata": metadata}


def next_document(
    resource: Resource, current: dict[str, Any] | None, *, now: datetime
) -> dict[str, Any]:
    """The document to store for ``resource`` given the stored ``current`` one.

    Keeps uid and creationTimestamp of an existing resource; generation is 1 on creation and
    bumps only when ``spec`` changes. resourceVersion is never stored: it is the key's
    mod_revision.
    """
    document = resource.to_dict()
    metadata = {k: v for k, v in document.get("metadata", {}).items() if k not in _SERVER_FIELDS}
    if current is None:
        metadata["generation"] = 1
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        old = current.get("metadata", {})
        generation = int(old.get("generation", 1))
        if current.get("spec") != document.get("spec"):
            generation += 1
        metadata["generation"] = generation
        for field in ("uid", "creationTimestamp"):
            if field in old:
                metadata[field] = old[field]
    document["metadata"] = metadata
    return document


def to_resource(document: dict[str, Any], *, resource_version: int | None, source: str) -> Resource:
    """Turn a stored document back into a typed resource carrying ``resource_version``
    (none when ``None``: the resource then writes unconditionally).

    A stored document that no longer validates (say, after an upgrade made a rule stricter)
    raises :class:`InvalidConfig` naming the stored key as its source.
    """
    metadata = {k: v for k, v in document.get("metadata", {}).items() if k != "resourceVersion"}
    if resource_version is not None:
        metadata["resourceVersion"] = str(resource_version)
    try:
        return parse_document({**document, "metadata": metadata}, source)
    except ValidationError as exc:
        raise InvalidConfig(exc.errors) from exc


def field_error(resource: Resource, index: int, path: str, message: str) -> FieldError:
    """A FieldError about ``resource``, the ``index``-th resource of a request."""
    return FieldError(
        source="request",
        document_index=index,
        kind=resource.kind,
        namespace=resource.namespace,
        name=resource.name,
        path=path,
        message=message,
    )
