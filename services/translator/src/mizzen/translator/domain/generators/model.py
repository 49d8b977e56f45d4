"""What the generators produce: resource sets named by their inputs, grouped per class."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from mizzen.envoy import EnvoyResource

__all__ = ["GeneratedClass", "GeneratedSet", "short_hash"]


def short_hash(value: Any) -> str:
    """12 hex digits of a SHA-256 over ``value``'s canonical JSON: the part of a set id that
    stands for a tuple of inputs. Equal values give equal digests whatever the dict order."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class GeneratedSet:
    """Resources of one type, under an id that names the inputs that determine them.

    Two proxy classes whose inputs to a generator are equal get the same ``set_id`` and equal
    resources, so the snapshot writer stores the set once. ``resources`` are sorted by name,
    names unique within the set. Immutable.
    """

    set_id: str
    type_url: str
    resources: tuple[EnvoyResource, ...]

    @property
    def entries(self) -> Mapping[str, str]:
        """name → content hash (what a stored ``ResourceSet`` holds)."""
        return MappingProxyType({r.name: r.hash for r in self.resources})


@dataclass(frozen=True, slots=True)
class GeneratedClass:
    """Everything generated for one proxy class: its sets, in push order of their types.

    ``sets`` may be empty (a class no generator serves yet, e.g. a gateway). A resource name
    appears in at most one set of each type. Immutable.
    """

    class_id: str
    sets: tuple[GeneratedSet, ...]

    def set_ids_by_type(self) -> Mapping[str, tuple[str, ...]]:
        """type URL → the ids of the sets of that type (what a ``ClassSnapshot`` holds)."""
        by_type: dict[str, list[str]] = {}
        for generated in self.sets:
            by_type.setdefault(generated.type_url, []).append(generated.set_id)
        return MappingProxyType({url: tuple(ids) for url, ids in by_type.items()})

    def resources(self) -> Iterator[EnvoyResource]:
        """Every resource of every set, sets in order."""
        for generated in self.sets:
            yield from generated.resources

    def of_type(self, type_url: str) -> tuple[EnvoyResource, ...]:
        """The resources of one type across the class's sets."""
        return tuple(r for s in self.sets if s.type_url == type_url for r in s.resources)
