"""The config repository on both stores: all-or-nothing, concurrency, history, rollback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from mizzen.api import Resource
from mizzen.configstore import (
    Change,
    ConfigRepository,
    Conflict,
    InvalidConfig,
    NotFound,
    ResourceKey,
)
from mizzen.store import Store
from mizzen.store.testing import StoreServer

VS = Callable[..., Resource]

REVIEWS = ResourceKey("VirtualService", "default", "reviews")


async def test_apply_creates_then_reports_unchanged_and_configured(
    store: Store, virtual_service: VS
) -> None:
    repo = ConfigRepository(store)
    created = await repo.apply([virtual_service()], applied_by="test")
    assert [a.change for a in created.applied] == [Change.CREATED]
    stored = created.applied[0].resource
    assert stored.metadata.generation == 1
    assert stored.metadata.resource_version == str(created.revision)
    assert stored.metadata.uid

    again = await repo.apply([virtual_service()], applied_by="test")
    assert [a.change for a in again.applied] == [Change.UNCHANGED]
    assert again.revision == 0
    assert again.applied[0].resource.metadata.resource_version == str(created.revision)

    relabelled = await repo.apply([virtual_service(labels="team: a")], applied_by="test")
    assert relabelled.applied[0].change is Change.CONFIGURED
    assert relabelled.applied[0].resource.metadata.generation == 1  # metadata only

    changed = await repo.apply([virtual_service(subset="v2", labels="team: a")], applied_by="t")
    current = changed.applied[0].resource
    assert current.metadata.generation == 2
    assert current.metadata.uid == stored.metadata.uid
    assert current.metadata.creation_timestamp == stored.metadata.creation_timestamp
    assert (await repo.get(REVIEWS)).to_dict() == current.to_dict()


async def test_apply_is_all_or_nothing(store: Store, virtual_service: VS) -> None:
    repo = ConfigRepository(store)
    await repo.apply([virtual_service("existing")], applied_by="test")
    batch = [virtual_service(f"svc{i}") for i in range(9)]
    batch.append(virtual_service("existing", subset="v2", version="1"))  # stale version
    with pytest.raises(Conflict, match="resourceVersion 1 is stale"):
        await repo.apply(batch, applied_by="test")
    resources, _ = await repo.list_resources("VirtualService")
    assert [r.name for r in resources] == ["existing"]


async def test_duplicates_and_missing_namespace_are_invalid(
    store: Store, virtual_service: VS
) -> None:
    repo = ConfigRepository(store)
    with pytest.raises(InvalidConfig) as info:
        await repo.apply([virtual_service(), virtual_service()], applied_by="test")
    assert info.value.errors[0].path == "metadata.name"
    assert info.value.errors[0].document_index == 1
    assert (await repo.list_resources())[0] == []


async def test_two_concurrent_writers_one_wins_one_conflicts(
    store: Store, virtual_service: VS
) -> None:
    repo = ConfigRepository(store)
    created = await repo.apply([virtual_service()], applied_by="test")
    version = created.applied[0].resource.metadata.resource_version
    assert version is not None

    async def write(subset: str) -> str:
        try:
            await repo.apply([virtual_service(subset=subset, version=version)], applied_by=subset)
        except Conflict:
            return "conflict"
        return "ok"

    outcomes = await asyncio.gather(write("v2"), write("v3"))
    assert sorted(outcomes) == ["conflict", "ok"]
    assert (await repo.get(REVIEWS)).metadata.generation == 2


async def test_history_and_rollback_round_trip(store: Store, virtual_service: VS) -> None:
    repo = ConfigRepository(store)
    first = await repo.apply([virtual_service(subset="v1")], applied_by="alice")
    await repo.apply([virtual_service(subset="v2")], applied_by="bob")
    entries = await repo.history(REVIEWS)
    assert [(e.applied_by, e.change) for e in entries] == [
        ("bob", Change.CONFIGURED),
        ("alice", Change.CREATED),
    ]
    assert entries[1].revision == first.revision

    rolled = await repo.rollback(REVIEWS, first.revision, applied_by="carol")
    restored = rolled.applied[0].resource
    assert restored.to_dict()["spec"] == first.applied[0].resource.to_dict()["spec"]
    assert restored.metadata.generation == 3
    newest = (await repo.history(REVIEWS, limit=1))[0]
    assert newest.applied_by == f"carol (rollback to {first.revision})"
    assert newest.revision == rolled.revision

    with pytest.raises(NotFound, match="no history entry at revision 999999"):
        await repo.rollback(REVIEWS, 999999, applied_by="carol")


async def test_delete_is_recorded_and_can_be_rolled_back(store: Store, virtual_service: VS) -> None:
    repo = ConfigRepository(store)
    created = await repo.apply([virtual_service()], applied_by="alice")
    deleted = await repo.delete([REVIEWS], applied_by="bob")
    assert deleted.keys == (REVIEWS,)
    with pytest.raises(NotFound):
        await repo.get(REVIEWS)
    with pytest.raises(NotFound):
        await repo.delete([REVIEWS], applied_by="bob")
    entries = await repo.history(REVIEWS)
    assert entries[0].change is Change.DELETED
    assert entries[0].resource is None
    await repo.rollback(REVIEWS, created.revision, applied_by="carol")
    assert (await repo.get(REVIEWS)).metadata.generation == 1  # a new object


async def test_conditional_delete_needs_the_current_version(
    store: Store, virtual_service: VS
) -> None:
    repo = ConfigRepository(store)
    created = await repo.apply([virtual_service()], applied_by="alice")
    with pytest.raises(Conflict):
        await repo.delete([REVIEWS], applied_by="bob", resource_version="1")
    version = created.applied[0].resource.metadata.resource_version
    await repo.delete([REVIEWS], applied_by="bob", resource_version=version)


async def test_history_is_pruned_to_the_limit(store: Store, virtual_service: VS) -> None:
    repo = ConfigRepository(store, history_limit=3)
    for i in range(6):
        await repo.apply([virtual_service(subset=f"v{i}")], applied_by=f"w{i}")
    entries = await repo.history(REVIEWS)
    assert [e.applied_by for e in entries] == ["w5", "w4", "w3"]


async def test_list_filters_by_namespace_kind_and_labels(store: Store, virtual_service: VS) -> None:
    repo = ConfigRepository(store)
    await repo.apply(
        [virtual_service("a", labels="app: x"), virtual_service("b", labels="app: y")],
        applied_by="test",
    )
    selected, revision = await repo.list_resources("VirtualService", "default",
                                                   label_selector="app=y")  # fmt: skip
    assert [r.name for r in selected] == ["b"]
    assert revision > 0
    assert (await repo.list_resources("VirtualService", "other"))[0] == []
    assert (await repo.list_resources("DestinationRule"))[0] == []


async def test_config_survives_a_store_restart(
    backend: StoreServer, store: Store, virtual_service: VS
) -> None:
    repo = ConfigRepository(store)
    applied = await repo.apply([virtual_service()], applied_by="alice")
    await backend.kill()
    await backend.start()
    fresh = ConfigRepository(await backend.open())
    assert (await fresh.get(REVIEWS)).to_dict() == applied.applied[0].resource.to_dict()
    assert len(await fresh.history(REVIEWS)) == 1


async def test_a_large_apply_is_one_transaction(store: Store, virtual_service: VS) -> None:
    repo = ConfigRepository(store)
    result = await repo.apply([virtual_service(f"svc{i}") for i in range(200)], applied_by="t")
    assert len({a.resource.metadata.resource_version for a in result.applied}) == 1
    assert len((await repo.list_resources("VirtualService"))[0]) == 200
