"""What the config store returns: applied resources, history entries and watch events."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from mizzen.api import Resource
from mizzen.configstore.keys import ResourceKey


class Change(enum.Enum):
    """What a write did to one resource."""

    CREATED = "created"
    CONFIGURED = "configured"
    UNCHANGED = "unchanged"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Applied:
    """One resource of an apply: as stored now (with resourceVersion and generation)."""

    resource: Resource
    change: Change


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """The outcome of an all-or-nothing apply; ``revision`` 0 when nothing was written."""

    applied: tuple[Applied, ...]
    revision: int


@dataclass(frozen=True, slots=True)
class Deleted:
    """The outcome of a delete: the keys that existed and were removed, at ``revision``."""

    keys: tuple[ResourceKey, ...]
    revision: int


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change of one resource.

    ``revision`` is the store revision of the change (what ``rollback --to`` takes);
    ``resource`` is the resource after the change (``None`` for a deletion).
    """

    revision: int
    time: datetime
    applied_by: str
    change: Change
    resource: Resource | None


class EventType(enum.Enum):
    """Kinds of :class:`ConfigEvent`."""

    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"
    SYNCED = "synced"
    """The listing that started the watch is complete; changes follow."""


@dataclass(frozen=True, slots=True)
class ConfigEvent:
    """A change seen by a watch. ``resource`` is the new version (the last one for DELETED);
    both ``key`` and ``resource`` are ``None`` for SYNCED."""

    type: EventType
    key: ResourceKey | None
    resource: Resource | None
    revision: int
