"""Watching config yields a listing, SYNCED, then changes; it converges after compaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from mizzen.api import Resource
from mizzen.configstore import ConfigEvent, ConfigRepository, EventType, ResourceKey
from mizzen.store import Store
from mizzen.testing import wait_for

VS = Callable[..., Resource]


async def _collect(events: AsyncIterator[ConfigEvent], into: list[ConfigEvent]) -> None:
    async for event in events:
        into.append(event)


async def test_watch_lists_then_follows(store: Store, virtual_service: VS) -> None:
    repo = ConfigRepository(store)
    await repo.apply([virtual_service("a")], applied_by="t")
    seen: list[ConfigEvent] = []
    task = asyncio.create_task(_collect(repo.watch("VirtualService"), seen))
    try:
        await wait_for(lambda: any(e.type is EventType.SYNCED for e in seen), message="SYNCED")
        await repo.apply([virtual_service("a", subset="v2"), virtual_service("b")], applied_by="t")
        await repo.delete([ResourceKey("VirtualService", "default", "a")], applied_by="t")
        await wait_for(lambda: len(seen) == 5, message="five events")
    finally:
        task.cancel()
    kinds = [(e.type, e.key.name if e.key else None) for e in seen]
    assert kinds == [
        (EventType.ADDED, "a"),
        (EventType.SYNCED, None),
        (EventType.MODIFIED, "a"),
        (EventType.ADDED, "b"),
        (EventType.DELETED, "a"),
    ]
    assert seen[2].resource is not None
    assert seen[2].resource.metadata.generation == 2


async def test_watch_from_a_compacted_revision_converges(store: Store, virtual_service: VS) -> None:
    repo = ConfigRepository(store)
    first = await repo.apply([virtual_service("a"), virtual_service("b")], applied_by="t")
    await repo.delete([ResourceKey("VirtualService", "default", "a")], applied_by="t")
    latest = await repo.apply([virtual_service("c")], applied_by="t")
    await store.compact(latest.revision)
    seen: list[ConfigEvent] = []
    # A consumer that had seen a and b at `first.revision` resumes after compaction.
    task = asyncio.create_task(
        _collect(repo.watch("VirtualService", start_revision=first.revision), seen)
    )
    try:
        await wait_for(lambda: any(e.type is EventType.SYNCED for e in seen), message="resync")
    finally:
        task.cancel()
    names = {(e.type, e.key.name) for e in seen if e.key}
    assert (EventType.ADDED, "c") in names
    assert (EventType.ADDED, "b") in names  # this watch had not yielded b itself
