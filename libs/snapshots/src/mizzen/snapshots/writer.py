"""The translator's side: store resources, sets and class snapshots, writing only changes,
and delete what nothing refers to any more."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import structlog

from mizzen.envoy import EnvoyResource
from mizzen.snapshots.layout import (
    CLASSES_PREFIX,
    RESOURCES_PREFIX,
    SETS_PREFIX,
    SNAPSHOT_SUFFIX,
    ClassSnapshot,
    ResourceSet,
    class_id_of,
    inputs_key,
    resource_key,
    set_key,
    snapshot_key,
)
from mizzen.store import Store, Txn, list_prefix

log = structlog.get_logger(__name__)

# etcd refuses transactions of more than 128 operations by default (--max-txn-ops) and
# requests over 1.5 MiB (--max-request-bytes): batches stay under both.
_BATCH_OPS = 100
_BATCH_BYTES = 1024 * 1024


DEFAULT_GRACE_SECONDS = 60.0
"""How long a set or resource stays stored after the last reference to it went."""


@dataclass(frozen=True, slots=True)
class CollectStats:
    """What one :meth:`SnapshotWriter.collect` deleted, and what waits for its grace."""

    sets: int
    resources: int
    waiting: int


@dataclass(frozen=True, slots=True)
class WriteStats:
    """What one :meth:`SnapshotWriter.write` stored."""

    resources: int
    sets: int
    classes: int
    revision: int


class SnapshotWriter:
    """Writes snapshots so that a small change costs a small amount.

    Resources are content-addressed: a hash already stored (by this writer, or referenced by
    a set it loaded) is never written again. Sets and class snapshots are written only when
    their stored bytes would change. Order makes readers safe: resources first, then sets,
    then class snapshots, so a reader never sees a reference to something not yet stored.

    Content addressing means a change leaves the old resources and sets behind; :meth:`collect`
    deletes the sets no class snapshot refers to and the resources no remaining set refers to,
    once they have been unreferenced for ``grace`` seconds (an xds replica whose watch lags
    may still be serving a snapshot that names them for that long).

    One writer per store prefix at a time (the translator's leader). :meth:`write` and
    :meth:`collect` may be called from several tasks of one loop: they take turns.
    """

    def __init__(
        self,
        store: Store,
        *,
        grace: float = DEFAULT_GRACE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._grace = grace
        self._clock = clock
        self._stored_hashes: set[str] = set()
        self._sets: dict[str, bytes] = {}
        self._set_hashes: dict[str, frozenset[str]] = {}
        self._classes: dict[str, bytes] = {}
        self._class_sets: dict[str, frozenset[str]] = {}
        self._unreferenced: dict[str, float] = {}
        """Keys (set ids and resource hashes, by their store keys) nothing refers to, since."""
        self._turn = asyncio.Lock()

    async def load(self) -> None:
        """Learn what is stored already, so that a restarted writer rewrites nothing."""
        sets = await list_prefix(self._store, SETS_PREFIX.encode())
        for kv in sets.kvs:
            set_id = kv.key.decode()[len(SETS_PREFIX) :]
            self._remember_set(ResourceSet.from_json(set_id, kv.value), kv.value)
            self._stored_hashes.update(self._set_hashes[set_id])
        classes = await list_prefix(self._store, CLASSES_PREFIX.encode())
        for kv in classes.kvs:
            key = kv.key.decode()
            class_id = class_id_of(key)
            if class_id and key.endswith(SNAPSHOT_SUFFIX):
                self._remember_class(ClassSnapshot.from_json(class_id, kv.value), kv.value)
        # Resources no set names (a writer that crashed between storing resources and the
        # set naming them left them): known from now on, so that collect() deletes them.
        stored = await list_prefix(self._store, RESOURCES_PREFIX.encode(), keys_only=True)
        named = len(self._stored_hashes)
        self._stored_hashes.update(kv.key.decode()[len(RESOURCES_PREFIX) :] for kv in stored.kvs)
        log.info("snapshot writer loaded", sets=len(self._sets), classes=len(self._classes),
                 unnamed_resources=len(self._stored_hashes) - named)  # fmt: skip

    def stored_set(self, set_id: str) -> bytes | None:
        """The stored bytes of ``set_id`` as this writer knows them."""
        return self._sets.get(set_id)

    async def write(
        self,
        resources: Iterable[EnvoyResource],
        sets: Iterable[ResourceSet],
        classes: Iterable[ClassSnapshot],
    ) -> WriteStats:
        """Store what changed among ``resources``, ``sets`` and ``classes``.

        Every hash a set refers to must be among ``resources`` or already stored.
        """
        async with self._turn:
            return await self._write(resources, sets, classes)

    async def _write(
        self,
        resources: Iterable[EnvoyResource],
        sets: Iterable[ResourceSet],
        classes: Iterable[ClassSnapshot],
    ) -> WriteStats:
        new_resources = {r.hash: r for r in resources if r.hash not in self._stored_hashes}
        changed_sets = [(s, s.to_json()) for s in sets]
        changed_sets = [(s, v) for s, v in changed_sets if self._sets.get(s.set_id) != v]
        changed_classes = [(c, c.to_json()) for c in classes]
        changed_classes = [(c, v) for c, v in changed_classes
                           if self._classes.get(c.class_id) != v]  # fmt: skip
        for s, _ in changed_sets:
            missing = [h for h in s.entries.values()
                       if h not in self._stored_hashes and h not in new_resources]  # fmt: skip
            if missing:
                raise ValueError(f"set {s.set_id} refers to resources never written: {missing[:3]}")
        revision = 0
        revision = await self._put_all(
            [(resource_key(h), r.body) for h, r in new_resources.items()], revision
        )
        self._stored_hashes.update(new_resources)
        revision = await self._put_all([(set_key(s.set_id), v) for s, v in changed_sets],
                                       revision)  # fmt: skip
        for resource_set, value in changed_sets:
            self._remember_set(resource_set, value)
        revision = await self._put_all(
            [(snapshot_key(c.class_id), v) for c, v in changed_classes], revision
        )
        for snapshot, value in changed_classes:
            self._remember_class(snapshot, value)
        stats = WriteStats(len(new_resources), len(changed_sets), len(changed_classes), revision)
        if revision:
            log.debug("snapshots written", resources=stats.resources, sets=stats.sets,
                      classes=stats.classes, revision=revision)  # fmt: skip
        return stats

    def _remember_set(self, resource_set: ResourceSet, value: bytes) -> None:
        self._sets[resource_set.set_id] = value
        self._set_hashes[resource_set.set_id] = frozenset(resource_set.entries.values())

    def _remember_class(self, snapshot: ClassSnapshot, value: bytes) -> None:
        self._classes[snapshot.class_id] = value
        self._class_sets[snapshot.class_id] = frozenset(
            set_id for set_ids in snapshot.sets.values() for set_id in set_ids
        )

    async def collect(self) -> CollectStats:
        """Delete the sets no class snapshot refers to, and the resources no remaining set
        refers to, that have been unreferenced for ``grace`` seconds; start the clock for
        those unreferenced now. Sets go before their resources, so a reader never sees a set
        naming a deleted resource. Resources a crashed writer stored without their set are
        found by :meth:`load` and go the same way."""
        async with self._turn:
            return await self._collect()

    async def _collect(self) -> CollectStats:
        now = self._clock()
        live_sets = set().union(*self._class_sets.values()) if self._class_sets else set()
        live_hashes = set().union(
            *(self._set_hashes[s] for s in live_sets if s in self._set_hashes)
        )
        unreferenced = [set_key(s) for s in self._sets if s not in live_sets]
        unreferenced += [resource_key(h) for h in self._stored_hashes if h not in live_hashes]
        since = {key: self._unreferenced.get(key, now) for key in unreferenced}
        self._unreferenced = since
        due = {key for key, first in since.items() if now - first >= self._grace}
        dead_sets = [s for s in self._sets if set_key(s) in due]
        dead_hashes = [h for h in self._stored_hashes if resource_key(h) in due]
        await self._delete_all([set_key(s) for s in dead_sets])
        for set_id in dead_sets:
            del self._sets[set_id], self._set_hashes[set_id]
        await self._delete_all([resource_key(h) for h in dead_hashes])
        self._stored_hashes.difference_update(dead_hashes)
        for key in due:
            del self._unreferenced[key]
        stats = CollectStats(len(dead_sets), len(dead_hashes), len(self._unreferenced))
        if dead_sets or dead_hashes:
            log.info("snapshots collected", sets=stats.sets, resources=stats.resources,
                     waiting=stats.waiting)  # fmt: skip
        return stats

    async def retire_classes(self, class_ids: Iterable[str]) -> None:
        """Delete the classes' inputs and snapshots (no proxy of theirs is connected); their
        sets and resources then go with :meth:`collect`. A proxy of a retired class that
        connects again asks for its class anew (xds writes the inputs again)."""
        async with self._turn:
            ids = list(class_ids)
            await self._delete_all([key for c in ids for key in (inputs_key(c), snapshot_key(c))])
            for class_id in ids:
                self._classes.pop(class_id, None)
                self._class_sets.pop(class_id, None)

    async def _delete_all(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), _BATCH_OPS):
            txn = Txn()
            for key in keys[start : start + _BATCH_OPS]:
                txn.then_delete(key)
            await self._store.commit(txn)

    async def _put_all(self, items: Sequence[tuple[str, bytes]], revision: int) -> int:
        for batch in _batches(items):
            txn = Txn()
            for key, value in batch:
                txn.then_put(key, value)
            revision = (await self._store.commit(txn)).revision
        return revision


def _batches(items: Sequence[tuple[str, bytes]]) -> list[list[tuple[str, bytes]]]:
    """``items`` in order, split into transactions of at most ``_BATCH_OPS`` puts and about
    ``_BATCH_BYTES`` (a single larger item goes alone)."""
    batches: list[list[tuple[str, bytes]]] = []
    current: list[tuple[str, bytes]] = []
    size = 0
    for key, value in items:
        item_size = len(key) + len(value)
        if current and (len(current) == _BATCH_OPS or size + item_size > _BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append((key, value))
        size += item_size
    if current:
        batches.append(current)
    return batches
