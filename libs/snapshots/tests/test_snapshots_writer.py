"""Proxy classes and the snapshot writer: equal inputs share, small changes write little."""

from __future__ import annotations

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from google.protobuf import duration_pb2

from mizzen.envoy import CLUSTER_TYPE, make_resource
from mizzen.launcher import EtcdProcess
from mizzen.registry import Protocol
from mizzen.snapshots import (
    ClassSnapshot,
    InboundPort,
    Interception,
    ProxyClass,
    ProxyType,
    ResourceSet,
    SnapshotWriter,
    parse_inbound,
    resource_key,
    set_key,
    snapshot_key,
)
from mizzen.store import EtcdStore, MemoryStore


def cluster(name: str, timeout: int = 1) -> cluster_pb2.Cluster:
    return cluster_pb2.Cluster(name=name, connect_timeout=duration_pb2.Duration(seconds=timeout))


def test_replicas_share_a_class_and_inputs_round_trip() -> None:
    metadata = {"NAMESPACE": "shop", "LABELS": {"version": "v1", "app": "cart"},
                "INTERCEPTION_MODE": "REDIRECT", "MIZZEN_INBOUND": "9080:19080:HTTP"}  # fmt: skip
    one = ProxyClass.from_node_metadata(ProxyType.SIDECAR, metadata)
    two = ProxyClass.from_node_metadata(
        ProxyType.SIDECAR, {**metadata, "LABELS": '{"app": "cart", "version": "v1"}'}
    )
    assert one == two
    assert one.class_id == two.class_id
    assert one.class_id.startswith("sidecar-shop-")
    assert ProxyClass.from_json(one.to_json()) == one
    other = ProxyClass.from_node_metadata(ProxyType.SIDECAR, {**metadata, "NAMESPACE": "x"})
    assert other.class_id != one.class_id


def test_local_address_counts_only_in_local_mode() -> None:
    local = {"NAMESPACE": "a", "LOCAL_ADDRESS": "127.0.0.5"}
    assert ProxyClass.from_node_metadata(ProxyType.SIDECAR, local).local_address == "127.0.0.5"
    captured = {**local, "INTERCEPTION_MODE": "TPROXY"}
    proxy = ProxyClass.from_node_metadata(ProxyType.SIDECAR, captured)
    assert proxy.interception is Interception.TPROXY
    assert proxy.local_address == ""


def test_inbound_ports_parse_and_reject_garbage() -> None:
    assert parse_inbound("9090:19090:grpc, 9080:19080") == (
        InboundPort(9080, 19080, Protocol.HTTP),
        InboundPort(9090, 19090, Protocol.GRPC),
    )
    with pytest.raises(ValueError, match="MIZZEN_INBOUND"):
        parse_inbound("9080")
    with pytest.raises(ValueError, match="INTERCEPTION_MODE"):
        ProxyClass.from_node_metadata(ProxyType.SIDECAR, {"INTERCEPTION_MODE": "magic"})


async def test_writer_stores_only_what_changed() -> None:
    store = MemoryStore()
    writer = SnapshotWriter(store)
    a, b = make_resource(cluster("a")), make_resource(cluster("b"))
    clusters = ResourceSet("cds-x", CLUSTER_TYPE, {"a": a.hash, "b": b.hash})
    snapshot = ClassSnapshot("c1", {CLUSTER_TYPE: ("cds-x",)})
    first = await writer.write([a, b], [clusters], [snapshot])
    assert (first.resources, first.sets, first.classes) == (2, 1, 1)
    again = await writer.write([a, b], [clusters], [snapshot])
    assert (again.resources, again.sets, again.classes, again.revision) == (0, 0, 0, 0)

    changed = make_resource(cluster("b", timeout=2))
    updated = ResourceSet("cds-x", CLUSTER_TYPE, {"a": a.hash, "b": changed.hash})
    second = await writer.write([a, changed], [updated], [snapshot])
    assert (second.resources, second.sets, second.classes) == (1, 1, 0)
    stored = await store.get(set_key("cds-x"))
    assert stored is not None
    assert ResourceSet.from_json("cds-x", stored.value) == updated
    body = await store.get(resource_key(changed.hash))
    assert body is not None
    assert body.value == changed.body
    assert await store.get(snapshot_key("c1")) is not None

    restarted = SnapshotWriter(store)
    await restarted.load()
    nothing = await restarted.write([a, changed], [updated], [snapshot])
    assert (nothing.resources, nothing.sets, nothing.classes) == (0, 0, 0)


async def test_a_set_referring_to_unwritten_resources_is_refused() -> None:
    writer = SnapshotWriter(MemoryStore())
    with pytest.raises(ValueError, match="never written"):
        await writer.write([], [ResourceSet("s", CLUSTER_TYPE, {"a": "f" * 64})], [])


async def test_large_writes_are_split_under_etcds_request_limit(etcd: EtcdProcess) -> None:
    """Forty 100 KB resources (4 MB) are more than one etcd request may carry (1.5 MiB)."""
    big = [make_resource(cluster_pb2.Cluster(name=f"c{i}", alt_stat_name="x" * 100_000))
           for i in range(40)]  # fmt: skip
    clusters = ResourceSet("cds-big", CLUSTER_TYPE, {r.name: r.hash for r in big})
    async with await EtcdStore.connect([etcd.endpoint]) as store:
        stats = await SnapshotWriter(store).write(big, [clusters], [])
        assert stats.resources == 40
        stored = await store.get(resource_key(big[-1].hash))
        assert stored is not None
        assert stored.value == big[-1].body


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_what_nothing_refers_to_is_deleted_after_the_grace_period() -> None:
    async with MemoryStore() as store:
        clock = Clock()
        writer = SnapshotWriter(store, grace=60.0, clock=clock)
        a, b, c = (make_resource(cluster(n)) for n in ("a", "b", "c"))
        old = ResourceSet("cds-old", CLUSTER_TYPE, {"a": a.hash, "b": b.hash})
        await writer.write([a, b], [old], [ClassSnapshot("one", {CLUSTER_TYPE: ("cds-old",)})])
        new = ResourceSet("cds-new", CLUSTER_TYPE, {"b": b.hash, "c": c.hash})
        await writer.write([c], [new], [ClassSnapshot("one", {CLUSTER_TYPE: ("cds-new",)})])

        first = await writer.collect()
        assert (first.sets, first.resources, first.waiting) == (0, 0, 2), "in its grace"
        clock.now = 59.0
        assert (await writer.collect()).waiting == 2
        assert await store.get(set_key("cds-old")) is not None

        clock.now = 60.0
        done = await writer.collect()
        assert (done.sets, done.resources, done.waiting) == (1, 1, 0)
        assert await store.get(set_key("cds-old")) is None
        assert await store.get(resource_key(a.hash)) is None
        for kept in (resource_key(b.hash), resource_key(c.hash), set_key("cds-new")):
            assert await store.get(kept) is not None, kept

        # Referenced again within its grace: kept, and the clock starts over when it goes.
        await writer.write([a], [old], [ClassSnapshot("two", {CLUSTER_TYPE: ("cds-old",)})])
        assert await store.get(resource_key(a.hash)) is not None, "rewritten: it was deleted"
        await writer.write([], [], [ClassSnapshot("two", {CLUSTER_TYPE: ("cds-new",)})])
        clock.now = 100.0
        assert (await writer.collect()).waiting == 2
        await writer.write([], [], [ClassSnapshot("two", {CLUSTER_TYPE: ("cds-old",)})])
        clock.now = 1000.0
        again = await writer.collect()
        assert (again.sets, again.resources, again.waiting) == (0, 0, 0)

        # A restarted writer knows what is stored and collects it the same way.
        await writer.write([], [], [ClassSnapshot("two", {CLUSTER_TYPE: ("cds-new",)})])
        restarted = SnapshotWriter(store, grace=60.0, clock=clock)
        await restarted.load()
        assert (await restarted.collect()).waiting == 2
        clock.now = 2000.0
        assert (await restarted.collect()).sets == 1
        assert await store.get(resource_key(a.hash)) is None


async def test_resources_a_crashed_writer_left_unnamed_are_collected_after_a_restart() -> None:
    async with MemoryStore() as store:
        a, orphan = make_resource(cluster("a")), make_resource(cluster("orphan"))
        first = SnapshotWriter(store)
        named = ResourceSet("cds-named", CLUSTER_TYPE, {"a": a.hash})
        await first.write([a], [named], [ClassSnapshot("one", {CLUSTER_TYPE: ("cds-named",)})])
        # The writer crashed after storing a resource and before the set naming it.
        await store.put(resource_key(orphan.hash), orphan.body)

        clock = Clock()
        restarted = SnapshotWriter(store, grace=60.0, clock=clock)
        await restarted.load()
        assert (await restarted.collect()).waiting == 1
        clock.now = 60.0
        done = await restarted.collect()
        assert (done.sets, done.resources, done.waiting) == (0, 1, 0)
        assert await store.get(resource_key(orphan.hash)) is None
        assert await store.get(resource_key(a.hash)) is not None
        assert await store.get(set_key("cds-named")) is not None
