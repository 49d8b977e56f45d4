"""The xds side: class snapshots and resource sets in memory, resource bodies on demand.

A :class:`SnapshotReader` lists ``/mizzen/xds/sets/`` and ``/mizzen/xds/classes/`` at one
revision, then follows one resumable watch on ``/mizzen/xds/`` from the next revision, so it
sees sets, class snapshots and class inputs in the order the writer stored them (resources,
then sets, then class snapshots: a set or snapshot it sees never refers to something not yet
stored). It keeps the sets and class snapshots in memory (they are small: names and hashes),
and fetches resource bodies by hash only when asked, through one bounded cache shared by all
callers. Bodies are content-addressed, so a cached body is never stale.

Subscribers learn which class ids changed: a class snapshot change affects its class, a set
change every class whose snapshot refers to the set.

The per-type maps :meth:`SnapshotReader.class_resources` returns are shared and stable: one
map per distinct tuple of set ids (so classes that serve the same sets of a type get the
very same map object), rebuilt only when one of its sets changes. Consumers may therefore
memoize anything derived from a map by its identity (xds does: versions, subsets, encoded
responses), and an unchanged type of a changed class costs them nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType

import structlog

from mizzen.snapshots.cache import SizedLru
from mizzen.snapshots.layout import (
    CLASSES_PREFIX,
    INPUTS_SUFFIX,
    RESOURCES_PREFIX,
    SETS_PREFIX,
    SNAPSHOT_SUFFIX,
    XDS_PREFIX,
    ClassSnapshot,
    ResourceSet,
    class_id_of,
    inputs_key,
    resource_key,
)
from mizzen.snapshots.proxy import ProxyClass
from mizzen.store import (
    Compacted,
    Conflict,
    Event,
    EventType,
    KeyValue,
    RangeResult,
    Reset,
    Store,
    WatchItem,
    list_prefix,
)

__all__ = [
    "ClassChangeListener",
    "ClassResources",
    "MissingResourceError",
    "SnapshotReader",
]

log = structlog.get_logger(__name__)

ClassResources = Mapping[str, Mapping[str, str]]
"""``type URL -> {resource name: content hash}``: what a class serves."""

ClassChangeListener = Callable[[frozenset[str], int], None]
"""``listener(class_ids, revision)``: those classes' resources may have changed at
``revision``. Called synchronously from the reader's watch task; it must not block."""

_EMPTY: Mapping[str, str] = MappingProxyType({})


class MissingResourceError(LookupError):
    """A resource body asked for by hash is not in the store (or its bytes do not match the
    hash). ``content_hash`` names it. A correct writer never causes this; it means the store
    was edited by hand or garbage-collected under a live set."""

    def __init__(self, content_hash: str, reason: str = "not in the store") -> None:
        self.content_hash = content_hash
        super().__init__(f"resource {content_hash}: {reason}")


class SnapshotReader:
    """Sets and class snapshots in memory, kept current by a watch; bodies fetched on demand.

    Use: ``await reader.load()``, then run ``await reader.run()`` in a background task for as
    long as the reader is used (it returns only when cancelled, and raises a non-retryable
    :class:`~mizzen.store.StoreError`). Read methods (:meth:`class_resources`,
    :meth:`class_snapshot`, ...) answer from memory without awaiting, so a caller sees one
    consistent state between two of its own ``await`` points. Returned mappings are
    read-only and must not be altered. Use from one event loop; any number of tasks may call
    :meth:`bodies` concurrently.
    """

    def __init__(
        self,
        store: Store,
        *,
        cache_bytes: int = 64 << 20,
        fetch_concurrency: int = 32,
        page_size: int = 1000,
    ) -> None:
        self._store = store
        # Content-addressed: a body stored under its hash never changes, so it is kept once.
        self._cache: SizedLru[str, bytes] = SizedLru(cache_bytes, len)
        self._fetch_slots = asyncio.Semaphore(fetch_concurrency)
        self._inflight: dict[str, asyncio.Future[bytes]] = {}
        self._page_size = page_size
        self._sets: dict[str, ResourceSet] = {}
        self._classes: dict[str, ClassSnapshot] = {}
        self._inputs: set[str] = set()
        self._classes_by_set: dict[str, set[str]] = {}
        self._resolved: dict[str, ClassResources] = {}
        self._unions: dict[tuple[str, ...], Mapping[str, str]] = {}
        self._unions_by_set: dict[str, set[tuple[str, ...]]] = {}
        self._listeners: list[ClassChangeListener] = []
        self._revision = 0
        self._loaded = False

    # -- state ---------------------------------------------------------------------------

    @property
    def revision(self) -> int:
        """The store revision the in-memory state reflects (0 before :meth:`load`)."""
        return self._revision

    @property
    def cached_bodies(self) -> int:
        """How many resource bodies the cache holds now."""
        return len(self._cache)

    @property
    def cached_bytes(self) -> int:
        """The total size of the cached bodies."""
        return self._cache.size

    def class_ids(self) -> frozenset[str]:
        """The classes that have a snapshot."""
        return frozenset(self._classes)

    def class_snapshot(self, class_id: str) -> ClassSnapshot | None:
        """The snapshot of ``class_id``, or ``None`` while it has none."""
        return self._classes.get(class_id)

    def resource_set(self, set_id: str) -> ResourceSet | None:
        """The set ``set_id``, or ``None`` if it is not stored."""
        return self._sets.get(set_id)

    def has_inputs(self, class_id: str) -> bool:
        """Whether ``/mizzen/xds/classes/<class_id>/inputs`` exists (as last seen)."""
        return class_id in self._inputs

    def class_resources(self, class_id: str) -> ClassResources | None:
        """What ``class_id`` serves: ``{type URL: {name: hash}}``, the union of its sets per
        type; ``None`` while the class has no snapshot (not translated yet: serve nothing,
        rather than an empty config). A set the snapshot names but the store lacks counts as
        empty. The result is read-only and shared; it is replaced, not mutated, on change,
        and each per-type map is the same object for as long as its sets do not change (and
        for every class that serves the same sets: see the module docstring).
        """
        resolved = self._resolved.get(class_id)
        if resolved is not None:
            return resolved
        snapshot = self._classes.get(class_id)
        if snapshot is None:
            return None
        resolved = MappingProxyType(
            {
                type_url: self._union(class_id, set_ids)
                for type_url, set_ids in snapshot.sets.items()
            }
        )
        self._resolved[class_id] = resolved
        return resolved

    def _union(self, class_id: str, set_ids: tuple[str, ...]) -> Mapping[str, str]:
        union = self._unions.get(set_ids)
        if union is not None:
            return union
        present = []
        for set_id in set_ids:
            resource_set = self._sets.get(set_id)
            if resource_set is None:
                log.warning("snapshot set missing", class_id=class_id, set_id=set_id)
            elif resource_set.entries:
                present.append(resource_set.entries)
        if not present:
            union = _EMPTY
        elif len(present) == 1:
            union = present[0]  # the set's own read-only map
        else:
            entries: dict[str, str] = {}
            for part in present:
                entries.update(part)
            union = MappingProxyType(entries)
        self._unions[set_ids] = union
        for set_id in set_ids:
            self._unions_by_set.setdefault(set_id, set()).add(set_ids)
        return union

    def _forget_unions(self, set_id: str) -> None:
        for set_ids in self._unions_by_set.pop(set_id, ()):
            self._unions.pop(set_ids, None)

    def subscribe(self, listener: ClassChangeListener) -> Callable[[], None]:
        """Call ``listener(class_ids, revision)`` after every change that may alter what those
        classes serve (see :data:`ClassChangeListener`); one etcd revision may give several
        calls (one per changed key), so listeners should coalesce (set a flag). Returns the
        function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    # -- loading and watching -------------------------------------------------------------

    async def load(self) -> int:
        """Read every set and class at one revision (replacing what is in memory) and return
        that revision. :meth:`run` watches from the next one."""
        while True:
            sets = await list_prefix(self._store, SETS_PREFIX.encode(), page_size=self._page_size)
            try:
                classes = await self._list_at(CLASSES_PREFIX.encode(), sets.revision)
            except Compacted:
                continue  # compacted between the two listings: list both again
            break
        self._replace(sets.kvs + classes.kvs, sets.revision)
        self._loaded = True
        log.info("snapshot reader loaded", sets=len(self._sets), classes=len(self._classes),
                 revision=self._revision)  # fmt: skip
        return self._revision

    async def _list_at(self, prefix: bytes, revision: int) -> RangeResult:
        kvs: list[KeyValue] = []
        after: bytes | None = None
        while True:
            page = await self._store.range(
                prefix, revision=revision, limit=self._page_size, after=after
            )
            kvs.extend(page.kvs)
            if not page.more or not page.kvs:
                return RangeResult(tuple(kvs), revision, more=False)
            after = page.kvs[-1].key

    async def run(self) -> None:
        """Follow ``/mizzen/xds/`` from the loaded revision on, applying every change and
        telling subscribers; loads first if :meth:`load` was not called. Runs until
        cancelled; a ``Reset`` (history compacted) replaces the state and notifies every class
        whose resources changed."""
        if not self._loaded:
            await self.load()
        async with self._store.watch(XDS_PREFIX, start_revision=self._revision + 1) as watch:
            async for item in watch:
                changed = self._apply(item)
                self._revision = max(self._revision, item.revision)
                if changed:
                    self._notify(changed)

    def _apply(self, item: WatchItem) -> frozenset[str]:
        if isinstance(item, Reset):
            before = {c: self.class_resources(c) for c in self._classes}
            self._replace(item.kvs, item.revision)
            after = set(self._classes)
            changed = {c for c in before.keys() | after if before.get(c) != self.class_resources(c)}
            log.info("snapshot reader reset", revision=item.revision, classes=len(after),
                     changed=len(changed))  # fmt: skip
            return frozenset(changed)
        return self._apply_event(item)

    def _apply_event(self, event: Event) -> frozenset[str]:
        key = event.kv.key.decode()
        value = None if event.type is EventType.DELETE else event.kv.value
        if key.startswith(RESOURCES_PREFIX):
            if value is not None:
                # Likely to be served soon (its set follows); the cache is bounded anyway.
                self._cache.put(key[len(RESOURCES_PREFIX) :], value)
            return frozenset()
        if key.startswith(SETS_PREFIX):
            return self._apply_set(key[len(SETS_PREFIX) :], value)
        class_id = class_id_of(key)
        if class_id is None:
            return frozenset()
        if key.endswith(INPUTS_SUFFIX):
            if value is None:
                self._inputs.discard(class_id)
            else:
                self._inputs.add(class_id)
        elif key.endswith(SNAPSHOT_SUFFIX):
            self._unindex(class_id)
            if value is None:
                self._classes.pop(class_id, None)
            else:
                self._index(ClassSnapshot.from_json(class_id, value))
            return frozenset({class_id})
        return frozenset()

    def _apply_set(self, set_id: str, value: bytes | None) -> frozenset[str]:
        if value is None:
            self._sets.pop(set_id, None)
        else:
            new_set = ResourceSet.from_json(set_id, value)
            if self._sets.get(set_id) == new_set:
                return frozenset()
            self._sets[set_id] = new_set
        self._forget_unions(set_id)
        affected = frozenset(self._classes_by_set.get(set_id, ()))
        for class_id in affected:
            self._resolved.pop(class_id, None)
        return affected

    def _replace(self, kvs: Iterable[KeyValue], revision: int) -> None:
        self._sets.clear()
        self._classes.clear()
        self._inputs.clear()
        self._classes_by_set.clear()
        self._resolved.clear()
        self._unions.clear()
        self._unions_by_set.clear()
        for kv in kvs:
            key = kv.key.decode()
            if key.startswith(SETS_PREFIX):
                set_id = key[len(SETS_PREFIX) :]
                self._sets[set_id] = ResourceSet.from_json(set_id, kv.value)
                continue
            class_id = class_id_of(key)
            if class_id is None:
                continue
            if key.endswith(INPUTS_SUFFIX):
                self._inputs.add(class_id)
            elif key.endswith(SNAPSHOT_SUFFIX):
                self._index(ClassSnapshot.from_json(class_id, kv.value))
        self._revision = revision

    def _index(self, snapshot: ClassSnapshot) -> None:
        self._classes[snapshot.class_id] = snapshot
        self._resolved.pop(snapshot.class_id, None)
        for set_ids in snapshot.sets.values():
            for set_id in set_ids:
                self._classes_by_set.setdefault(set_id, set()).add(snapshot.class_id)

    def _unindex(self, class_id: str) -> None:
        self._resolved.pop(class_id, None)
        old = self._classes.get(class_id)
        if old is None:
            return
        for set_ids in old.sets.values():
            for set_id in set_ids:
                users = self._classes_by_set.get(set_id)
                if users is not None:
                    users.discard(class_id)
                    if not users:
                        del self._classes_by_set[set_id]
            if set_ids and set_ids in self._unions and not self._union_used(set_ids):
                self._unions.pop(set_ids)
                for set_id in set_ids:
                    unions = self._unions_by_set.get(set_id)
                    if unions is not None:
                        unions.discard(set_ids)

    def _union_used(self, set_ids: tuple[str, ...]) -> bool:
        """Whether a class (still indexed) serves exactly ``set_ids`` for some type."""
        users = self._classes_by_set.get(set_ids[0], ())
        return any(set_ids in self._classes[user].sets.values() for user in users)

    def _notify(self, class_ids: frozenset[str]) -> None:
        for listener in list(self._listeners):
            try:
                listener(class_ids, self._revision)
            except Exception:
                log.exception("snapshot listener failed", classes=len(class_ids))

    # -- bodies ---------------------------------------------------------------------------

    async def bodies(self, hashes: Iterable[str]) -> dict[str, bytes]:
        """The stored bytes (packed ``Any``) of each resource hash in ``hashes``.

        Cached bodies are answered from memory; the others are read from the store (at most
        ``fetch_concurrency`` reads at once, one read per hash however many callers want it)
        and checked against their hash. Raises :class:`MissingResourceError` for a hash the
        store lacks. The returned dict is the caller's.
        """
        found: dict[str, bytes] = {}
        missing: dict[str, None] = {}
        for content_hash in hashes:
            if content_hash in found:
                continue
            body = self._cache.get(content_hash)
            if body is None:
                missing[content_hash] = None
            else:
                found[content_hash] = body
        if missing:
            fetched = await asyncio.gather(*(self._fetch(h) for h in missing))
            found.update(zip(missing, fetched, strict=True))
        return found

    async def _fetch(self, content_hash: str) -> bytes:
        future = self._inflight.get(content_hash)
        if future is None:
            future = asyncio.ensure_future(self._read_body(content_hash))
            self._inflight[content_hash] = future
            future.add_done_callback(lambda done: self._fetched(content_hash, done))
        # Shielded: one caller giving up must not cancel the read others wait for.
        return await asyncio.shield(future)

    def _fetched(self, content_hash: str, future: asyncio.Future[bytes]) -> None:
        self._inflight.pop(content_hash, None)
        if not future.cancelled():
            future.exception()  # retrieved here, so an error nobody awaits is not reported

    async def _read_body(self, content_hash: str) -> bytes:
        async with self._fetch_slots:
            kv = await self._store.get(resource_key(content_hash))
        if kv is None:
            raise MissingResourceError(content_hash)
        if hashlib.sha256(kv.value).hexdigest() != content_hash:
            raise MissingResourceError(content_hash, "stored bytes do not match the hash")
        self._cache.put(content_hash, kv.value)
        return kv.value

    # -- class inputs ---------------------------------------------------------------------

    async def request_class(self, proxy_class: ProxyClass, *, force: bool = False) -> bool:
        """Ask the translator for ``proxy_class``: create its inputs key unless it exists.

        Returns whether this call created it. Safe to race with other replicas (a create
        that finds the key present is not an error). With ``force`` the store is asked even
        if the key was last seen present (it may be being deleted: the translator retires
        classes no proxy uses). Raises :class:`~mizzen.store.StoreError` when the store
        cannot be reached.
        """
        class_id = proxy_class.class_id
        if class_id in self._inputs and not force:
            return False
        try:
            await self._store.put_if(inputs_key(class_id), proxy_class.to_json(), mod_revision=0)
        except Conflict:
            self._inputs.add(class_id)
            return False
        self._inputs.add(class_id)
        log.info("class requested", class_id=class_id)
        return True
