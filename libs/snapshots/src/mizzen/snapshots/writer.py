"""The translator's side: store resources, sets and class snapshots, writing only changes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import structlog

from mizzen.envoy import EnvoyResource
from mizzen.snapshots.layout import (
    CLASSES_PREFIX,
    SETS_PREFIX,
    SNAPSHOT_SUFFIX,
    ClassSnapshot,
    ResourceSet,
    class_id_of,
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

    One writer per store prefix at a time (the translator's leader). Not safe for concurrent
    :meth:`write` calls; the translator serializes them.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._stored_hashes: set[str] = set()
        self._sets: dict[str, bytes] = {}
        self._classes: dict[str, bytes] = {}

    async def load(self) -> None:
        """Learn what is stored already, so that a restarted writer rewrites nothing."""
        sets = await list_prefix(self._store, SETS_PREFIX.encode())
        for kv in sets.kvs:
            set_id = kv.key.decode()[len(SETS_PREFIX) :]
            self._sets[set_id] = kv.value
            self._stored_hashes.update(ResourceSet.from_json(set_id, kv.value).entries.values())
        classes = await list_prefix(self._store, CLASSES_PREFIX.encode())
        for kv in classes.kvs:
            key = kv.key.decode()
            class_id = class_id_of(key)
            if class_id and key.endswith(SNAPSHOT_SUFFIX):
                self._classes[class_id] = kv.value
        log.info("snapshot writer loaded", sets=len(self._sets), classes=len(self._classes))

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
        self._sets.update((s.set_id, v) for s, v in changed_sets)
        revision = await self._put_all(
            [(snapshot_key(c.class_id), v) for c, v in changed_classes], revision
        )
        self._classes.update((c.class_id, v) for c, v in changed_classes)
        stats = WriteStats(len(new_resources), len(changed_sets), len(changed_classes), revision)
        if revision:
            log.debug("snapshots written", resources=stats.resources, sets=stats.sets,
                      classes=stats.classes, revision=revision)  # fmt: skip
        return stats

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
