"""The translation loop: watch config, registry and proxy classes; debounce; translate; write.

This is the translator's I/O glue. What to generate is decided by the pure generators
(:mod:`mizzen.translator.domain.generators`), passed in as ``build_config`` and ``generate``;
what is stored is decided by :class:`~mizzen.snapshots.SnapshotWriter` (only changes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mizzen.api import Resource
from mizzen.configstore import ConfigRepository, EventType, ResourceKey
from mizzen.envoy import EnvoyResource
from mizzen.registry import REGISTRY_PREFIX, SERVICES_PREFIX, RegistryView
from mizzen.runtime import HeapSettler
from mizzen.snapshots import (
    CLASSES_PREFIX,
    ClassSnapshot,
    ProxyClass,
    ResourceSet,
    SnapshotWriter,
    class_id_of,
)
from mizzen.snapshots.layout import INPUTS_SUFFIX
from mizzen.snapshots.status import PROXIES_PREFIX, ProxyStatus
from mizzen.snapshots.writer import DEFAULT_GRACE_SECONDS
from mizzen.store import Event, Reset, Store, list_prefix
from mizzen.store import EventType as StoreEventType
from mizzen.translator.domain.debounce import ChangeSignal, debounce
from mizzen.translator.domain.generation import BuildConfig, NewTranslation, TranslationLike

log = structlog.get_logger(__name__)

ALL_CONFIG_INPUTS = frozenset({"VirtualService", "DestinationRule", "ServiceEntry", "Sidecar",
                               "Gateway"})  # fmt: skip
ALL_INPUTS = ALL_CONFIG_INPUTS | {"services", "endpoints"}
DEFAULT_CLASS_GRACE_SECONDS = 600.0
"""How long a class nobody is connected to keeps being translated."""


def _registry_inputs(item: Event | Reset) -> set[str]:
    """Which registry inputs a watch item changes."""
    if isinstance(item, Reset):
        return {"services", "endpoints"}
    return {"services"} if item.kv.key.startswith(SERVICES_PREFIX.encode()) else {"endpoints"}


@dataclass(frozen=True, slots=True)
class PipelineMetrics:
    """The translation loop's Prometheus metrics, registered on the service's registry."""

    pushes: Counter
    push_seconds: Histogram
    classes: Gauge
    written: Counter
    failures: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> PipelineMetrics:
        """Register the metrics on ``registry``."""
        return cls(
            pushes=Counter("mizzen_translator_pushes", "Translation rounds run.",
                           registry=registry),
            push_seconds=Histogram("mizzen_translator_push_seconds",
                                   "Seconds per translation round (translate and write).",
                                   registry=registry),
            classes=Gauge("mizzen_translator_classes", "Proxy classes translated.",
                          registry=registry),
            written=Counter("mizzen_translator_written",
                            "Keys written (and deleted: deleted_sets, deleted_resources), by "
                            "kind.", ["kind"], registry=registry),
            failures=Counter("mizzen_translator_class_failures",
                             "Classes whose translation raised (their last snapshot stays).",
                             registry=registry),
        )  # fmt: skip


class TranslationPipeline:
    """Keeps every proxy class's snapshot in etcd equal to the translation of current inputs.

    Run :meth:`run` in one task while this replica leads; cancel it when leadership is lost.
    Translation of all classes is redone when config or registry changes; a new class alone
    is translated alone.
    """

    def __init__(
        self,
        store: Store,
        repository: ConfigRepository,
        *,
        build_config: BuildConfig,
        new_translation: NewTranslation,
        metrics: PipelineMetrics,
        quiet: float = 0.1,
        max_delay: float = 1.0,
        idle: float | None = None,
        heap: HeapSettler | None = None,
        collect_interval: float = 30.0,
        collect_grace: float = DEFAULT_GRACE_SECONDS,
        class_grace: float = DEFAULT_CLASS_GRACE_SECONDS,
    ) -> None:
        self._store = store
        self._repository = repository
        self._build_config = build_config
        self._new_translation = new_translation
        self._translation: TranslationLike | None = None
        self._changed: set[str] = set()
        self._metrics = metrics
        self._quiet = quiet
        self._max_delay = max_delay
        self._idle = idle
        self._collect_interval = collect_interval
        self._class_grace = class_grace
        self._idle_since: dict[str, float] = {}
        self._round = asyncio.Lock()
        self._heap = heap or HeapSettler()
        self._writer = SnapshotWriter(store, grace=collect_grace)
        self._signal = ChangeSignal()
        self._resources: dict[ResourceKey, Resource] = {}
        self._registry = RegistryView()
        self._classes: dict[str, ProxyClass] = {}
        self._config: Any = None
        self._config_dirty = True
        self._all_dirty = True
        self._dirty_classes: set[str] = set()
        self._synced = {"config": asyncio.Event(), "registry": asyncio.Event(),
                        "classes": asyncio.Event()}  # fmt: skip
        self.rounds = 0
        """How many translation rounds completed (for tests and debugging)."""

    async def run(self) -> None:
        """Watch, debounce and translate until cancelled."""
        await self._writer.load()
        try:
            await self._run()
        finally:
            self._heap.close()

    async def _run(self) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._watch_config(), name="watch config")
            tasks.create_task(self._watch_registry(), name="watch registry")
            tasks.create_task(self._watch_classes(), name="watch classes")
            for ready in self._synced.values():
                await ready.wait()
            log.info("translation inputs synced", resources=len(self._resources),
                     classes=len(self._classes))  # fmt: skip
            await self._push()
            tasks.create_task(self._collect_garbage(), name="collect garbage")
            tasks.create_task(debounce(self._signal, self._push, quiet=self._quiet,
                                       max_delay=self._max_delay, idle=self._idle),
                              name="debounce")  # fmt: skip

    async def _collect_garbage(self) -> None:
        """Every ``collect_interval`` seconds, retire the classes no proxy has been connected
        to for ``class_grace`` seconds (local-mode classes include the workload's address, so
        every restarted workload leaves one behind), then delete the sets and resources that
        no snapshot has referred to for the writer's grace period (content addressing leaves
        the old ones behind at every change)."""
        while True:
            await asyncio.sleep(self._collect_interval)  # a period, not a synchronization
            async with self._round:  # never in the middle of a translation round
                await self._retire_idle_classes()
                stats = await self._writer.collect()
            self._metrics.written.labels("deleted_sets").inc(stats.sets)
            self._metrics.written.labels("deleted_resources").inc(stats.resources)

    async def _retire_idle_classes(self) -> None:
        listing = await list_prefix(self._store, PROXIES_PREFIX.encode())
        connected: set[str] = set()
        for kv in listing.kvs:
            try:
                connected.add(ProxyStatus.from_json(kv.value).class_id)
            except (KeyError, ValueError) as exc:
                log.warning("proxy status unreadable", key=kv.key.decode(), error=str(exc))
        now = time.monotonic()
        self._idle_since = {
            class_id: self._idle_since.get(class_id, now)
            for class_id in self._classes
            if class_id not in connected
        }
        idle = sorted(
            c for c, since in self._idle_since.items() if now - since >= self._class_grace
        )
        if not idle:
            return
        await self._writer.retire_classes(idle)
        for class_id in idle:
            self._classes.pop(class_id, None)
            del self._idle_since[class_id]
        self._metrics.classes.set(len(self._classes))
        self._metrics.written.labels("retired_classes").inc(len(idle))
        log.info("classes retired", classes=len(idle), idle_seconds=self._class_grace)

    async def _watch_config(self) -> None:
        async for event in self._repository.watch():
            if event.type is EventType.SYNCED:
                self._synced["config"].set()
                self._changed.update(ALL_CONFIG_INPUTS)
            elif event.type is EventType.DELETED and event.key is not None:
                self._resources.pop(event.key, None)
            elif event.key is not None and event.resource is not None:
                self._resources[event.key] = event.resource
            if event.type is not EventType.SYNCED and event.key is not None:
                self._changed.add(event.key.kind)
                self._config_dirty = self._all_dirty = True
                self._signal.notify()

    async def _watch_registry(self) -> None:
        revision = await self._registry.load(self._store)
        self._synced["registry"].set()
        async with self._store.watch(REGISTRY_PREFIX, start_revision=revision + 1) as items:
            async for item in items:
                self._registry.apply(item)
                self._changed.update(_registry_inputs(item))
                self._all_dirty = True
                self._signal.notify()

    async def _watch_classes(self) -> None:
        listing = await list_prefix(self._store, CLASSES_PREFIX.encode())
        for kv in listing.kvs:
            self._class_changed(kv.key.decode(), kv.value)
        self._synced["classes"].set()
        async with self._store.watch(CLASSES_PREFIX, start_revision=listing.revision + 1) as items:
            async for item in items:
                self._class_item(item)

    def _class_item(self, item: Event | Reset) -> None:
        if isinstance(item, Reset):
            self._classes.clear()
            for kv in item.kvs:
                self._class_changed(kv.key.decode(), kv.value)
            self._all_dirty = True
        elif item.type is StoreEventType.DELETE:
            key = item.kv.key.decode()
            class_id = class_id_of(key)
            if class_id and key.endswith(INPUTS_SUFFIX):
                self._classes.pop(class_id, None)
        else:
            self._class_changed(item.kv.key.decode(), item.kv.value)
        self._signal.notify()

    def _class_changed(self, key: str, value: bytes) -> None:
        class_id = class_id_of(key)
        if not class_id or not key.endswith(INPUTS_SUFFIX):
            return
        try:
            proxy = ProxyClass.from_json(value)
        except (ValueError, KeyError) as exc:
            log.warning("proxy class inputs unreadable", key=key, error=str(exc))
            return
        if proxy.class_id != class_id:
            log.warning("proxy class inputs under a foreign id", key=key, id=proxy.class_id)
            return
        if class_id not in self._classes:
            self._classes[class_id] = proxy
            self._dirty_classes.add(class_id)

    async def _push(self) -> None:
        async with self._round:
            await self._translate_and_write()

    async def _translate_and_write(self) -> None:
        started = time.perf_counter()
        if self._config_dirty:
            self._config = self._build_config(list(self._resources.values()))
            self._config_dirty = False
        targets = list(self._classes) if self._all_dirty else sorted(self._dirty_classes)
        self._all_dirty = False
        self._dirty_classes.clear()
        registry = self._registry.current
        changed = frozenset(self._changed) if self._translation is not None else ALL_INPUTS
        self._changed.clear()
        translation = self._new_translation(self._config, registry, self._translation, changed)
        self._translation = translation
        resources: dict[str, EnvoyResource] = {}
        sets: dict[str, ResourceSet] = {}
        snapshots: list[ClassSnapshot] = []
        for class_id in targets:
            proxy = self._classes.get(class_id)
            if proxy is None:
                continue
            # Translation is CPU-bound; yielding between classes keeps lease keepalives and
            # watches of this loop alive during a long round (a starved keepalive would lose
            # the leadership mid-round).
            await asyncio.sleep(0)
            try:
                generated = translation.generate(proxy)
            except Exception:
                # A generator bug must not stop every other class; its last snapshot stays.
                log.exception("class translation failed", xds_class=class_id)
                self._metrics.failures.inc()
                continue
            snapshots.append(self._collect(class_id, generated.sets, resources, sets))
        stats = await self._writer.write(resources.values(), sets.values(), snapshots)
        self.rounds += 1
        self._metrics.pushes.inc()
        self._metrics.classes.set(len(self._classes))
        self._metrics.written.labels("resources").inc(stats.resources)
        self._metrics.written.labels("sets").inc(stats.sets)
        self._metrics.written.labels("classes").inc(stats.classes)
        elapsed = time.perf_counter() - started
        # A round leaves a new translation behind: collect the old one once things are quiet,
        # not in the middle of the next round (see mizzen.runtime.heap).
        self._heap.busy()
        self._metrics.push_seconds.observe(elapsed)
        log.info("translated", classes=len(targets), resources=stats.resources, sets=stats.sets,
                 snapshots=stats.classes, revision=stats.revision,
                 seconds=round(elapsed, 4))  # fmt: skip

    @staticmethod
    def _collect(
        class_id: str,
        generated_sets: Sequence[Any],
        resources: dict[str, EnvoyResource],
        sets: dict[str, ResourceSet],
    ) -> ClassSnapshot:
        by_type: dict[str, list[str]] = {}
        for generated in generated_sets:
            entries = MappingProxyType({r.name: r.hash for r in generated.resources})
            resource_set = ResourceSet(generated.set_id, generated.type_url, entries)
            earlier = sets.get(generated.set_id)
            if earlier is not None and earlier != resource_set:
                # Set ids name their inputs; equal ids with unequal content is a generator bug.
                log.error("set id reused for different content", set_id=generated.set_id,
                          xds_class=class_id)  # fmt: skip
            sets[generated.set_id] = resource_set
            resources.update((r.hash, r) for r in generated.resources)
            by_type.setdefault(generated.type_url, []).append(generated.set_id)
        return ClassSnapshot(class_id, MappingProxyType({t: tuple(ids) for t, ids in
                                                          by_type.items()}))  # fmt: skip
