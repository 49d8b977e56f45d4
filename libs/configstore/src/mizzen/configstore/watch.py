"""Watching config: typed events that converge on the store's state, whatever happens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from mizzen.api import Resource
from mizzen.configstore.keys import parse_config_key
from mizzen.configstore.model import ConfigEvent, EventType
from mizzen.store import Event, KeyValue, Reset, Store, list_prefix
from mizzen.store import EventType as StoreEventType

Decoder = Callable[[KeyValue], Resource]


async def watch_config(
    store: Store, decode: Decoder, prefix: str, *, start_revision: int = 0
) -> AsyncIterator[ConfigEvent]:
    """Yield the config changes under ``prefix``.

    ``start_revision`` 0: first every existing resource as ADDED, then SYNCED, then changes.
    Otherwise: the changes after ``start_revision``. When the store's history was compacted
    under the watch, the difference between what this watch had yielded and the store's
    listing is yielded as ADDED/MODIFIED/DELETED events followed by SYNCED, so a consumer that
    applies events in order always converges. Ends only when closed.
    """
    known: dict[bytes, int] = {}  # key -> mod_revision yielded last
    if start_revision == 0:
        listing = await list_prefix(store, prefix.encode())
        for kv in listing.kvs:
            known[kv.key] = kv.mod_revision
            yield ConfigEvent(EventType.ADDED, parse_config_key(kv.key), decode(kv),
                              kv.mod_revision)  # fmt: skip
        yield ConfigEvent(EventType.SYNCED, None, None, listing.revision)
        start_revision = listing.revision + 1
    else:
        start_revision += 1
    async with store.watch(prefix, start_revision=start_revision) as changes:
        async for item in changes:
            if isinstance(item, Reset):
                for event in _resync(known, item, decode):
                    yield event
                continue
            yield _translate(known, item, decode)


def _translate(known: dict[bytes, int], event: Event, decode: Decoder) -> ConfigEvent:
    key = parse_config_key(event.kv.key)
    if event.type is StoreEventType.DELETE:
        known.pop(event.kv.key, None)
        last = decode(event.prev_kv) if event.prev_kv is not None else None
        return ConfigEvent(EventType.DELETED, key, last, event.revision)
    kind = EventType.ADDED if event.kv.key not in known else EventType.MODIFIED
    known[event.kv.key] = event.kv.mod_revision
    return ConfigEvent(kind, key, decode(event.kv), event.revision)


def _resync(known: dict[bytes, int], reset: Reset, decode: Decoder) -> list[ConfigEvent]:
    events: list[ConfigEvent] = []
    listed = {kv.key: kv for kv in reset.kvs}
    for gone in sorted(set(known) - set(listed)):
        del known[gone]
        events.append(ConfigEvent(EventType.DELETED, parse_config_key(gone), None,
                                  reset.revision))  # fmt: skip
    for key, kv in listed.items():
        if known.get(key) == kv.mod_revision:
            continue
        kind = EventType.MODIFIED if key in known else EventType.ADDED
        known[key] = kv.mod_revision
        events.append(ConfigEvent(kind, parse_config_key(key), decode(kv), reset.revision))
    events.append(ConfigEvent(EventType.SYNCED, None, None, reset.revision))
    return events
