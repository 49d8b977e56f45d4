"""The translation loop on a real etcd: inputs in, snapshots out, only changes written."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest_asyncio
from envoy.config.cluster.v3 import cluster_pb2
from google.protobuf import duration_pb2
from prometheus_client import CollectorRegistry

from mizzen.api import Resource, parse_documents
from mizzen.configstore import ConfigRepository
from mizzen.envoy import CLUSTER_TYPE, EnvoyResource, make_resource
from mizzen.launcher import EtcdProcess
from mizzen.registry import (
    Endpoint,
    Registry,
    Service,
    ServicePort,
    encode_endpoint,
    encode_service,
    endpoint_key,
    service_key,
)
from mizzen.snapshots import (
    ClassSnapshot,
    ProxyClass,
    ProxyType,
    ResourceSet,
    inputs_key,
    resource_key,
    set_key,
    snapshot_key,
)
from mizzen.snapshots.status import ProxyStatus
from mizzen.store import EtcdStore, Store
from mizzen.testing import wait_for
from mizzen.translator.pipeline import PipelineMetrics, TranslationPipeline


@dataclass(frozen=True)
class OneSet:
    set_id: str
    type_url: str
    resources: Sequence[EnvoyResource]


@dataclass(frozen=True)
class Generated:
    sets: Sequence[OneSet]


def build_config(resources: Sequence[Resource]) -> tuple[str, ...]:
    return tuple(sorted(r.name for r in resources))


@dataclass(frozen=True)
class Translation:
    """A small real translation: one cluster per service, timeout = number of config objects."""

    config: tuple[str, ...]
    registry: Registry
    changed: frozenset[str]

    def generate(self, proxy: ProxyClass) -> Generated:
        timeout = duration_pb2.Duration(seconds=1 + len(self.config))
        clusters = [make_resource(cluster_pb2.Cluster(name=host, connect_timeout=timeout))
                    for host in self.registry.services]  # fmt: skip
        return Generated([OneSet(f"cds-{proxy.namespace}", CLUSTER_TYPE, clusters)])


translations: list[Translation] = []


def new_translation(
    config: tuple[str, ...], registry: Registry, previous: object, changed: frozenset[str]
) -> Translation:
    translations.append(Translation(config, registry, changed))
    return translations[-1]


@pytest_asyncio.fixture
async def store(etcd: EtcdProcess) -> AsyncIterator[Store]:
    async with await EtcdStore.connect([etcd.endpoint]) as client:
        yield client


def new_pipeline(
    store: Store, repository: ConfigRepository, **options: float
) -> TranslationPipeline:
    """A pipeline over the small translation above, debouncing in tens of milliseconds."""
    return TranslationPipeline(store, repository, build_config=build_config,
                               new_translation=new_translation,
                               metrics=PipelineMetrics.create(CollectorRegistry()), quiet=0.02,
                               max_delay=0.2, **options)  # type: ignore[arg-type]  # fmt: skip


async def put_service(store: Store, name: str) -> None:
    host = f"{name}.default.svc.cluster.local"
    await store.put(service_key(host), encode_service(Service(host, "default",
                                                              (ServicePort(9080),))))  # fmt: skip
    endpoint = Endpoint(host, "default", f"{name}-1", "127.0.0.9", {9080: 9080})
    await store.put(endpoint_key(host, endpoint.endpoint_id), encode_endpoint(endpoint))


async def snapshot_clusters(store: Store, class_id: str) -> dict[str, str] | None:
    kv = await store.get(snapshot_key(class_id))
    if kv is None:
        return None
    snapshot = ClassSnapshot.from_json(class_id, kv.value)
    (set_id,) = snapshot.sets[CLUSTER_TYPE]
    set_kv = await store.get(set_key(set_id))
    assert set_kv is not None
    return dict(ResourceSet.from_json(set_id, set_kv.value).entries)


async def test_classes_get_snapshots_and_follow_changes(store: Store) -> None:
    await put_service(store, "reviews")
    proxy = ProxyClass(ProxyType.SIDECAR, "default", local_address="127.0.0.5")
    await store.put(inputs_key(proxy.class_id), proxy.to_json())
    repository = ConfigRepository(store)
    pipeline = new_pipeline(store, repository)
    task = asyncio.create_task(pipeline.run())
    try:
        first = await wait_for(
            lambda: snapshot_clusters(store, proxy.class_id), message="the first snapshot"
        )
        assert list(first) == ["reviews.default.svc.cluster.local"]

        await put_service(store, "ratings")
        both = await wait_for(
            lambda: _with_keys(snapshot_clusters(store, proxy.class_id), 2), message="ratings"
        )
        assert translations[-1].changed == {"services", "endpoints"}
        assert both["reviews.default.svc.cluster.local"] == first[
            "reviews.default.svc.cluster.local"]  # fmt: skip

        vs = parse_documents("apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                             "metadata: {name: r, namespace: default}\n"
                             "spec: {hosts: [r], http: [{route: [{destination: {host: r}}]}]}\n",
                             "t")  # fmt: skip
        await repository.apply(vs, applied_by="test")
        changed = await wait_for(
            lambda: _changed(snapshot_clusters(store, proxy.class_id), both), message="config"
        )
        assert set(changed) == set(both)
        assert translations[-1].changed == {"VirtualService"}

        # A second class of the same namespace shares the set: nothing new is stored for it.
        rounds = pipeline.rounds
        twin = ProxyClass(ProxyType.SIDECAR, "default", local_address="127.0.0.6")
        await store.put(inputs_key(twin.class_id), twin.to_json())
        assert await wait_for(lambda: snapshot_clusters(store, twin.class_id)) == changed
        assert pipeline.rounds > rounds
    finally:
        task.cancel()


async def test_resources_left_behind_by_a_change_are_collected_after_the_grace(
    store: Store,
) -> None:
    await put_service(store, "reviews")
    proxy = ProxyClass(ProxyType.SIDECAR, "default", local_address="127.0.0.5")
    await store.put(inputs_key(proxy.class_id), proxy.to_json())
    repository = ConfigRepository(store)
    pipeline = new_pipeline(store, repository, collect_interval=0.1, collect_grace=0.5)
    task = asyncio.create_task(pipeline.run())
    try:
        first = await wait_for(
            lambda: snapshot_clusters(store, proxy.class_id), message="the first snapshot"
        )
        (old_hash,) = first.values()
        vs = parse_documents("apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
                             "metadata: {name: r, namespace: default}\n"
                             "spec: {hosts: [r], http: [{route: [{destination: {host: r}}]}]}\n",
                             "t")  # fmt: skip
        await repository.apply(vs, applied_by="test")
        changed = await wait_for(
            lambda: _changed(snapshot_clusters(store, proxy.class_id), first), message="config"
        )
        (new_hash,) = changed.values()
        replaced = time.monotonic()
        assert await store.get(resource_key(old_hash)) is not None, "kept for its grace"

        async def old_gone() -> bool:
            return await store.get(resource_key(old_hash)) is None

        await wait_for(old_gone, timeout=10, message="the replaced resource deleted")
        assert time.monotonic() - replaced >= 0.5 * 0.9
        assert await store.get(resource_key(new_hash)) is not None
    finally:
        task.cancel()


async def test_a_class_nobody_is_connected_to_is_retired_after_its_grace(store: Store) -> None:
    await put_service(store, "reviews")
    used = ProxyClass(ProxyType.SIDECAR, "default", local_address="127.0.0.5")
    gone = ProxyClass(ProxyType.SIDECAR, "default", local_address="127.0.0.6")
    for proxy in (used, gone):
        await store.put(inputs_key(proxy.class_id), proxy.to_json())
    # A proxy of "used" is connected (xds keeps its status under /mizzen/proxies/).
    status = ProxyStatus(
        "reviews-v1.default",
        "sidecar~127.0.0.5~reviews-v1.default~x",
        used.class_id,
        "xds-a",
        "c1",
        "sotw",
        "2026-01-01T00:00:00.000Z",
    )
    await store.put(status.key, status.to_json())
    pipeline = new_pipeline(store, ConfigRepository(store), collect_interval=0.1, class_grace=0.5)
    task = asyncio.create_task(pipeline.run())
    try:
        for class_id in (used.class_id, gone.class_id):
            await wait_for(functools.partial(store.get, snapshot_key(class_id)),
                           message="both classes translated")  # fmt: skip
        started = time.monotonic()

        async def retired() -> bool:
            return await store.get(inputs_key(gone.class_id)) is None

        await wait_for(retired, timeout=10, message="the unused class retired")
        assert time.monotonic() - started >= 0.5 * 0.9
        assert await store.get(snapshot_key(gone.class_id)) is None
        assert await store.get(inputs_key(used.class_id)) is not None
        assert await store.get(snapshot_key(used.class_id)) is not None

        # A proxy of the retired class comes back: xds asks again, and it is translated.
        await store.put(inputs_key(gone.class_id), gone.to_json())
        await wait_for(lambda: store.get(snapshot_key(gone.class_id)), timeout=10,
                       message="translated again")  # fmt: skip
    finally:
        task.cancel()


async def _with_keys(pending: object, count: int) -> dict[str, str] | None:
    result = await pending  # type: ignore[misc]
    return result if result and len(result) == count else None


async def _changed(pending: object, before: dict[str, str]) -> dict[str, str] | None:
    result = await pending  # type: ignore[misc]
    return result if result and result != before else None
