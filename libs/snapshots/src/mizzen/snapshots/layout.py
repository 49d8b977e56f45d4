"""Where snapshots live in etcd (see docs/state.md).

* ``/mizzen/xds/resources/<hash>``: one serialized Envoy resource (the packed ``Any``),
  content-addressed by :attr:`mizzen.envoy.EnvoyResource.hash`; written once, never changed.
* ``/mizzen/xds/sets/<set id>``: a :class:`ResourceSet`, ``{name: hash}`` of one type. Sets are
  named by their inputs, not their content, so a change to one endpoint rewrites the one set
  that holds it, whatever number of classes use that set.
* ``/mizzen/xds/classes/<class id>/inputs``: the :class:`~mizzen.snapshots.proxy.ProxyClass`,
  written by xds when a proxy of a new class connects; the translator builds every class it
  finds here.
* ``/mizzen/xds/classes/<class id>/snapshot``: a :class:`ClassSnapshot`, the set ids per type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

XDS_PREFIX = "/mizzen/xds/"
RESOURCES_PREFIX = "/mizzen/xds/resources/"
SETS_PREFIX = "/mizzen/xds/sets/"
CLASSES_PREFIX = "/mizzen/xds/classes/"
INPUTS_SUFFIX = "/inputs"
SNAPSHOT_SUFFIX = "/snapshot"


def resource_key(content_hash: str) -> str:
    """The key of the resource with ``content_hash``."""
    return f"{RESOURCES_PREFIX}{content_hash}"


def set_key(set_id: str) -> str:
    """The key of the set ``set_id``."""
    return f"{SETS_PREFIX}{set_id}"


def inputs_key(class_id: str) -> str:
    """The key of a class's inputs."""
    return f"{CLASSES_PREFIX}{class_id}{INPUTS_SUFFIX}"


def snapshot_key(class_id: str) -> str:
    """The key of a class's snapshot."""
    return f"{CLASSES_PREFIX}{class_id}{SNAPSHOT_SUFFIX}"


def class_id_of(key: str) -> str | None:
    """The class id in a ``/mizzen/xds/classes/<id>/...`` key, else ``None``."""
    if not key.startswith(CLASSES_PREFIX):
        return None
    class_id, _, _ = key[len(CLASSES_PREFIX) :].partition("/")
    return class_id or None


@dataclass(frozen=True, slots=True)
class ResourceSet:
    """Resources of one type: ``name -> content hash``. Immutable; compare by value."""

    set_id: str
    type_url: str
    entries: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def to_json(self) -> bytes:
        """The stored form (sorted, so equal sets store identical bytes)."""
        data = {"typeUrl": self.type_url, "entries": dict(sorted(self.entries.items()))}
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, set_id: str, value: bytes) -> ResourceSet:
        """Inverse of :meth:`to_json`."""
        data: dict[str, Any] = json.loads(value)
        return cls(set_id, data["typeUrl"], MappingProxyType(dict(data["entries"])))


@dataclass(frozen=True, slots=True)
class ClassSnapshot:
    """A class's snapshot: for each type URL, the sets whose union it serves.

    A resource name appears in at most one set of a type (the translator guarantees it).
    """

    class_id: str
    sets: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def to_json(self) -> bytes:
        """The stored form."""
        data = {"sets": {t: list(ids) for t, ids in sorted(self.sets.items())}}
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, class_id: str, value: bytes) -> ClassSnapshot:
        """Inverse of :meth:`to_json`."""
        data: dict[str, Any] = json.loads(value)
        return cls(class_id, MappingProxyType({t: tuple(ids) for t, ids in data["sets"].items()}))
