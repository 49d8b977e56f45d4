"""The snapshot reader: what it loads, what it notices, what it fetches and caches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager

import pytest
import pytest_asyncio
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.listener.v3 import listener_pb2
from google.protobuf import duration_pb2

from mizzen.envoy import CLUSTER_TYPE, LISTENER_TYPE, EnvoyResource, make_resource
from mizzen.snapshots import (
    ClassSnapshot,
    MissingResourceError,
    ProxyClass,
    ProxyType,
    ResourceSet,
    SnapshotReader,
    SnapshotWriter,
    inputs_key,
    resource_key,
)
from mizzen.store import MemoryStore
from mizzen.testing import in_background, wait_for


def cluster(name: str, timeout: int = 1) -> EnvoyResource:
    message = cluster_pb2.Cluster(name=name, connect_timeout=duration_pb2.Duration(seconds=timeout))
    return make_resource(message)


def listener(name: str) -> EnvoyResource:
    return make_resource(listener_pb2.Listener(name=name))


class Changes:
    """Every class id a reader reported, in order."""

    def __init__(self, reader: SnapshotReader) -> None:
        self.seen: list[frozenset[str]] = []
        reader.subscribe(lambda ids, _revision: self.seen.append(ids))

    def all(self) -> set[str]:
        return set().union(*self.seen)


@pytest_asyncio.fixture
async def store() -> AsyncIterator[MemoryStore]:
    async with MemoryStore() as client:
        yield client


def running(reader: SnapshotReader) -> AbstractAsyncContextManager[object]:
    return in_background(reader.run())


async def test_a_class_serves_the_union_of_its_sets(store: MemoryStore) -> None:
    a, b, main = cluster("a"), cluster("b"), listener("main")
    shared = ResourceSet("cds-shared", CLUSTER_TYPE, {"a": a.hash})
    own = ResourceSet("cds-own", CLUSTER_TYPE, {"b": b.hash})
    listeners = ResourceSet("lds-c1", LISTENER_TYPE, {"main": main.hash})
    snapshot = ClassSnapshot("c1", {CLUSTER_TYPE: ("cds-shared", "cds-own"),
                                    LISTENER_TYPE: ("lds-c1",)})  # fmt: skip
    await SnapshotWriter(store).write([a, b, main], [shared, own, listeners], [snapshot])

    reader = SnapshotReader(store)
    revision = await reader.load()
    assert revision == reader.revision > 1
    assert reader.class_ids() == {"c1"}
    assert reader.class_resources("c1") == {
        CLUSTER_TYPE: {"a": a.hash, "b": b.hash},
        LISTENER_TYPE: {"main": main.hash},
    }
    assert reader.class_resources("unknown") is None, "no snapshot: nothing to serve yet"
    assert reader.class_snapshot("c1") == snapshot


async def test_changes_notify_the_classes_they_affect(store: MemoryStore) -> None:
    writer = SnapshotWriter(store)
    a, b = cluster("a"), cluster("b")
    shared = ResourceSet("cds-shared", CLUSTER_TYPE, {"a": a.hash})
    one = ClassSnapshot("one", {CLUSTER_TYPE: ("cds-shared",)})
    two = ClassSnapshot("two", {CLUSTER_TYPE: ("cds-shared",)})
    await writer.write([a], [shared], [one, two])
    reader = SnapshotReader(store)
    await reader.load()
    changes = Changes(reader)

    async with running(reader):
        # A set change reaches every class that refers to the set.
        grown = ResourceSet("cds-shared", CLUSTER_TYPE, {"a": a.hash, "b": b.hash})
        await writer.write([b], [grown], [])
        await wait_for(lambda: changes.all() == {"one", "two"}, timeout=5, message="set change")
        assert reader.class_resources("two") == {CLUSTER_TYPE: {"a": a.hash, "b": b.hash}}

        # A class snapshot change reaches that class only.
        changes.seen.clear()
        own = ResourceSet("cds-own", CLUSTER_TYPE, {"b": b.hash})
        await writer.write([], [own], [ClassSnapshot("two", {CLUSTER_TYPE: ("cds-own",)})])
        await wait_for(lambda: changes.all() == {"two"}, timeout=5, message="class change")
        assert reader.class_resources("two") == {CLUSTER_TYPE: {"b": b.hash}}

        # "two" no longer uses the shared set: changing it concerns "one" alone.
        changes.seen.clear()
        await writer.write([], [ResourceSet("cds-shared", CLUSTER_TYPE, {"a": a.hash})], [])
        await wait_for(lambda: changes.all() == {"one"}, timeout=5, message="set change")
        assert reader.class_resources("one") == {CLUSTER_TYPE: {"a": a.hash}}
        assert reader.class_resources("two") == {CLUSTER_TYPE: {"b": b.hash}}


async def test_per_type_maps_are_shared_and_stay_the_same_object_until_their_sets_change(
    store: MemoryStore,
) -> None:
    writer = SnapshotWriter(store)
    a, b, c, main = cluster("a"), cluster("b"), cluster("c"), listener("main")
    shared = ResourceSet("cds-shared", CLUSTER_TYPE, {"a": a.hash})
    own = ResourceSet("cds-own", CLUSTER_TYPE, {"b": b.hash})
    listeners = ResourceSet("lds", LISTENER_TYPE, {"main": main.hash})
    both = {CLUSTER_TYPE: ("cds-shared", "cds-own"), LISTENER_TYPE: ("lds",)}
    snapshots = [ClassSnapshot("one", both), ClassSnapshot("two", both),
                 ClassSnapshot("three", {CLUSTER_TYPE: ("cds-shared",)})]  # fmt: skip
    await writer.write([a, b, main], [shared, own, listeners], snapshots)
    reader = SnapshotReader(store)
    await reader.load()
    changes = Changes(reader)
    one, two, three = (reader.class_resources(c) for c in ("one", "two", "three"))
    assert one is not None
    assert two is not None
    assert three is not None
    # Classes serving the same sets of a type get one map object.
    assert one[CLUSTER_TYPE] is two[CLUSTER_TYPE]
    assert one[LISTENER_TYPE] is two[LISTENER_TYPE]
    assert three[CLUSTER_TYPE] == {"a": a.hash}

    async with running(reader):
        await writer.write([c], [ResourceSet("cds-own", CLUSTER_TYPE, {"c": c.hash})], [])
        await wait_for(lambda: changes.all() == {"one", "two"}, timeout=5, message="set change")
        after = reader.class_resources("one")
        assert after is not None
        assert after is not one
        assert after[CLUSTER_TYPE] == {"a": a.hash, "c": c.hash}
        # The type whose sets did not change keeps its map (consumers memoize by identity).
        assert after[LISTENER_TYPE] is one[LISTENER_TYPE]
        assert reader.class_resources("three") is three  # not affected at all


async def test_bodies_are_fetched_once_checked_and_cached(store: MemoryStore) -> None:
    a, b = cluster("a"), cluster("b")
    await SnapshotWriter(store).write(
        [a, b], [ResourceSet("s", CLUSTER_TYPE, {"a": a.hash, "b": b.hash})], []
    )
    reader = SnapshotReader(store)
    await reader.load()
    bodies = await reader.bodies([a.hash, b.hash, a.hash])
    assert bodies == {a.hash: a.body, b.hash: b.body}
    assert reader.cached_bodies == 2

    # Bodies are immutable: once cached, the store is not asked again.
    await store.delete(resource_key(a.hash))
    assert await reader.bodies([a.hash]) == {a.hash: a.body}

    with pytest.raises(MissingResourceError) as missing:
        await reader.bodies(["0" * 64])
    assert missing.value.content_hash == "0" * 64

    # Bytes that do not hash to their key are refused, not served.
    forged = "f" * 64
    await store.put(resource_key(forged), b"not what the hash says")
    with pytest.raises(MissingResourceError, match="do not match"):
        await reader.bodies([forged])


async def test_the_cache_is_bounded() -> None:
    store = MemoryStore()
    resources = [cluster(f"c{i}") for i in range(10)]
    await SnapshotWriter(store).write(
        resources, [ResourceSet("s", CLUSTER_TYPE, {r.name: r.hash for r in resources})], []
    )
    limit = 3 * len(resources[0].body)
    reader = SnapshotReader(store, cache_bytes=limit)
    await reader.bodies(r.hash for r in resources)
    assert reader.cached_bytes <= limit
    assert reader.cached_bodies == 3


async def test_request_class_creates_the_inputs_once(store: MemoryStore) -> None:
    proxy = ProxyClass.from_node_metadata(ProxyType.SIDECAR, {"NAMESPACE": "shop"})
    reader = SnapshotReader(store)
    await reader.load()
    assert await reader.request_class(proxy) is True
    stored = await store.get(inputs_key(proxy.class_id))
    assert stored is not None
    assert ProxyClass.from_json(stored.value) == proxy
    assert await reader.request_class(proxy) is False
    assert reader.has_inputs(proxy.class_id)

    other_replica = SnapshotReader(store)
    assert await other_replica.request_class(proxy) is False, "a create that loses is fine"
    again = await store.get(inputs_key(proxy.class_id))
    assert again is not None
    assert again.mod_revision == stored.mod_revision, "never rewritten"


async def test_a_compacted_history_resets_the_state(store: MemoryStore) -> None:
    writer = SnapshotWriter(store)
    a, b = cluster("a"), cluster("b", timeout=5)
    await writer.write(
        [a], [ResourceSet("s", CLUSTER_TYPE, {"a": a.hash})],
        [ClassSnapshot("kept", {CLUSTER_TYPE: ("s",)}),
         ClassSnapshot("gone", {CLUSTER_TYPE: ("s",)})],
    )  # fmt: skip
    reader = SnapshotReader(store)
    await reader.load()
    changes = Changes(reader)

    # While the reader is not watching, the store moves on and its history is compacted.
    await writer.write([b], [ResourceSet("s", CLUSTER_TYPE, {"b": b.hash})], [])
    await store.delete("/mizzen/xds/classes/gone/snapshot")
    await store.compact((await store.range("/")).revision)

    async with running(reader):
        await wait_for(lambda: changes.all() == {"kept", "gone"}, timeout=5, message="reset")
        assert reader.class_resources("kept") == {CLUSTER_TYPE: {"b": b.hash}}
        assert reader.class_resources("gone") is None
        assert reader.class_ids() == {"kept"}
