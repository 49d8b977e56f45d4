"""Istio resources stored durably over a :class:`mizzen.store.Store`.

    repo = ConfigRepository(store, history_limit=20)
    result = await repo.apply(resources, applied_by="alice via mizzen")   # all or nothing
    vs = await repo.get(ResourceKey("VirtualService", "default", "reviews"))
    entries = await repo.history(ResourceKey(...))                        # newest first
    await repo.rollback(ResourceKey(...), entries[1].revision, applied_by="alice")
    async for event in repo.watch("VirtualService"): ...

Keys and values are laid out as docs/state.md describes.
"""

from mizzen.configstore.errors import ConfigStoreError, Conflict, InvalidConfig, NotFound
from mizzen.configstore.keys import ResourceKey, config_prefix, parse_config_key
from mizzen.configstore.model import (
    Applied,
    ApplyResult,
    Change,
    ConfigEvent,
    Deleted,
    EventType,
    HistoryEntry,
)
from mizzen.configstore.repository import ConfigRepository
from mizzen.configstore.selector import parse_selector

__all__ = [
    "Applied",
    "ApplyResult",
    "Change",
    "ConfigEvent",
    "ConfigRepository",
    "ConfigStoreError",
    "Conflict",
    "Deleted",
    "EventType",
    "HistoryEntry",
    "InvalidConfig",
    "NotFound",
    "ResourceKey",
    "config_prefix",
    "parse_config_key",
    "parse_selector",
]
