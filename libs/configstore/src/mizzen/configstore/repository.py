"""The config repository: Istio resources in a :class:`~mizzen.store.Store`, with history."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from mizzen.api import FieldError, Resource
from mizzen.configstore import documents
from mizzen.configstore.errors import Conflict, InvalidConfig, NotFound
from mizzen.configstore.keys import ResourceKey, config_prefix
from mizzen.configstore.model import (
    Applied,
    ApplyResult,
    Change,
    ConfigEvent,
    Deleted,
    HistoryEntry,
)
from mizzen.configstore.selector import parse_selector
from mizzen.configstore.watch import watch_config
from mizzen.store import KeyValue, Store, Txn

log = structlog.get_logger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Write:
    """One planned change of one resource, based on what was read."""

    key: ResourceKey
    current: KeyValue | None
    document: dict[str, Any] | None  # None: delete
    change: Change
    history_keys: list[bytes]
    sequence: int  # a store revision read after `current`: orders this change's history entry


class ConfigRepository:
    """Validated Istio resources stored all-or-nothing, with history and rollback.

    Every change of a set of resources is one store transaction that compares each resource's
    ``mod_revision`` with the one its change was computed from, so concurrent writers never
    interleave: a writer that named a ``resourceVersion`` gets :class:`Conflict` when it is
    stale; a writer that did not is retried on the fresh state (last writer wins, as
    ``kubectl apply`` without a resourceVersion). Each change also writes a history entry in
    the same transaction, and prunes history beyond ``history_limit`` entries per resource.

    Safe for concurrent use from one event loop. The store is owned by the caller.
    """

    def __init__(
        self,
        store: Store,
        *,
        history_limit: int = 20,
        max_retries: int = 8,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if history_limit < 1:
            raise ValueError("history_limit must be at least 1")
        self._store = store
        self._history_limit = history_limit
        self._max_retries = max_retries
        self._clock = clock

    # -- reads --------------------------------------------------------------------------

    async def get(self, key: ResourceKey) -> Resource:
        """The current version of ``key``; raises :class:`NotFound`."""
        kv = await self._store.get(key.config_key)
        if kv is None:
            raise NotFound(key.kind, key.namespace, key.name)
        return self._decode(kv)

    async def list_resources(
        self, kind: str = "", namespace: str = "", *, label_selector: str = ""
    ) -> tuple[list[Resource], int]:
        """Every resource of ``kind`` in ``namespace`` (empty: all) matching the selector,
        sorted by kind, namespace and name, with the store revision they were read at."""
        matches = parse_selector(label_selector)
        result = await self._store.range(config_prefix(kind, namespace))
        resources = [self._decode(kv) for kv in result.kvs]
        selected = [r for r in resources if matches(r.metadata.labels or {})]
        return selected, result.revision

    async def history(self, key: ResourceKey, *, limit: int = 0) -> list[HistoryEntry]:
        """The retained changes of ``key``, newest first (at most ``limit`` if > 0)."""
        result = await self._store.range(key.history_prefix)
        entries = [self._decode_history(key, kv) for kv in reversed(result.kvs)]
        return entries[:limit] if limit > 0 else entries

    # -- writes -------------------------------------------------------------------------

    async def apply(
        self, resources: Sequence[Resource], *, applied_by: str, dry_run: bool = False
    ) -> ApplyResult:
        """Store every resource, or none of them.

        Each resource must carry its namespace. A resource whose ``metadata.resourceVersion``
        is set is written only if that is still its current version (else :class:`Conflict`,
        nothing written). Unchanged resources are reported as such and not rewritten.
        With ``dry_run`` nothing is written and the result's revision is 0.
        """
        keys = self._check_request(resources)
        for _ in range(self._max_retries):
            writes = []
            for key, resource in zip(keys, resources, strict=True):
                current, history_keys, sequence = await self._read(key)
                self._check_version(key, resource, current)
                writes.append(self._plan_put(key, resource, current, history_keys, sequence))
            if dry_run:
                return self._result(writes, revision=0)
            committed, revision = await self._commit(writes, applied_by)
            if committed:
                log.info(
                    "config applied",
                    resources=len(writes),
                    revision=revision,
                    applied_by=applied_by,
                )
                return self._result(writes, revision=revision)
            log.debug("config apply raced another writer; retrying")
        raise Conflict(keys[0].kind, keys[0].namespace, keys[0].name, expected=None, current=0)

    async def delete(
        self,
        keys: Sequence[ResourceKey],
        *,
        applied_by: str,
        resource_version: str | None = None,
    ) -> Deleted:
        """Delete the resources that exist among ``keys`` (all in one transaction).

        ``resource_version`` (with exactly one key) makes the delete conditional. Raises
        :class:`NotFound` when none of the keys exists.
        """
        if resource_version is not None and len(keys) != 1:
            raise ValueError("a resource_version can only guard the delete of one resource")
        for _ in range(self._max_retries):
            writes = []
            for key in keys:
                current, history_keys, sequence = await self._read(key)
                if resource_version is not None and (
                    current is None or str(current.mod_revision) != resource_version
                ):
                    raise Conflict(key.kind, key.namespace, key.name, expected=resource_version,
                                   current=current.mod_revision if current else 0)  # fmt: skip
                if current is not None:
                    writes.append(
                        _Write(key, current, None, Change.DELETED, history_keys, sequence)
                    )
            if not writes:
                first = keys[0]
                raise NotFound(first.kind, first.namespace, first.name)
            committed, revision = await self._commit(writes, applied_by)
            if committed:
                log.info("config deleted", resources=len(writes), revision=revision,
                         applied_by=applied_by)  # fmt: skip
                return Deleted(tuple(w.key for w in writes), revision)
        first = keys[0]
        raise Conflict(first.kind, first.namespace, first.name, expected=None, current=0)

    async def rollback(self, key: ResourceKey, to_revision: int, *, applied_by: str) -> ApplyResult:
        """Make the version of ``key`` recorded at ``to_revision`` current again.

        The rollback is a new change (new revision, new history entry); rolling back to a
        deletion deletes the resource. Raises :class:`NotFound` for an unknown revision.
        """
        entries = await self.history(key)
        entry = next((e for e in entries if e.revision == to_revision), None)
        if entry is None:
            raise NotFound(key.kind, key.namespace, key.name, revision=to_revision)
        by = f"{applied_by} (rollback to {to_revision})"
        if entry.resource is None:
            deleted = await self.delete([key], applied_by=by)
            return ApplyResult((), deleted.revision)
        document = entry.resource.to_dict()
        restored = documents.to_resource(document, resource_version=None, source=str(key))
        return await self.apply([restored], applied_by=by)

    # -- internals ----------------------------------------------------------------------

    def _check_request(self, resources: Sequence[Resource]) -> list[ResourceKey]:
        errors: list[FieldError] = []
        keys: list[ResourceKey] = []
        seen: set[ResourceKey] = set()
        for index, resource in enumerate(resources):
            key = ResourceKey(resource.kind, resource.namespace, resource.name)
            if not resource.namespace:
                errors.append(documents.field_error(resource, index, "metadata.namespace",
                                                    "a namespace is required"))  # fmt: skip
            if key in seen:
                errors.append(documents.field_error(
                    resource, index, "metadata.name",
                    f"{key} appears more than once in one apply; merge the documents"))  # fmt: skip
            seen.add(key)
            keys.append(key)
        if errors:
            raise InvalidConfig(errors)
        return keys

    async def _read(self, key: ResourceKey) -> tuple[KeyValue | None, list[bytes], int]:
        # The history range is read after the resource. If the resource is unchanged when we
        # commit, every earlier change committed before that read, so the read's revision is
        # above every earlier change's sequence: a unique, ordered key for our history entry.
        current = await self._store.get(key.config_key)
        history = await self._store.range(key.history_prefix)
        return current, [kv.key for kv in history.kvs], history.revision

    @staticmethod
    def _check_version(key: ResourceKey, resource: Resource, current: KeyValue | None) -> None:
        wanted = resource.metadata.resource_version
        if wanted and (current is None or str(current.mod_revision) != wanted):
            raise Conflict(key.kind, key.namespace, key.name, expected=wanted,
                           current=current.mod_revision if current else 0)  # fmt: skip

    def _plan_put(
        self,
        key: ResourceKey,
        resource: Resource,
        current: KeyValue | None,
        history_keys: list[bytes],
        sequence: int,
    ) -> _Write:
        old = documents.decode_json(current.value) if current else None
        new = documents.next_document(resource, old, now=self._clock())
        if old is None:
            change = Change.CREATED
        elif documents.user_view(old) == documents.user_view(new):
            change = Change.UNCHANGED
        else:
            change = Change.CONFIGURED
        return _Write(key, current, new, change, history_keys, sequence)

    async def _commit(self, writes: list[_Write], applied_by: str) -> tuple[bool, int]:
        txn = Txn()
        changed = [w for w in writes if w.change is not Change.UNCHANGED]
        if not changed:
            return True, 0
        now = self._clock()
        for write in changed:
            txn.when_mod_revision(write.key.config_key, "==",
                                  write.current.mod_revision if write.current else 0)  # fmt: skip
            if write.document is None:
                txn.then_delete(write.key.config_key)
            else:
                txn.then_put(write.key.config_key, documents.encode(write.document))
            entry = {
                "time": now.isoformat(),
                "appliedBy": applied_by,
                "change": write.change.value,
                "document": write.document,
            }
            txn.then_put(write.key.history_key(write.sequence), documents.encode(entry))
            excess = len(write.history_keys) + 1 - self._history_limit
            for old_key in write.history_keys[: max(excess, 0)]:
                txn.then_delete(old_key)
        result = await self._store.commit(txn)
        return result.succeeded, result.revision

    def _result(self, writes: list[_Write], *, revision: int) -> ApplyResult:
        applied = []
        for write in writes:
            assert write.document is not None  # apply plans only puts
            version = (
                write.current.mod_revision
                if write.change is Change.UNCHANGED and write.current
                else revision
            )
            resource = documents.to_resource(write.document, resource_version=version,
                                             source=str(write.key))  # fmt: skip
            applied.append(Applied(resource, write.change))
        return ApplyResult(tuple(applied), revision)

    def _decode(self, kv: KeyValue) -> Resource:
        return documents.to_resource(documents.decode_json(kv.value),
                                     resource_version=kv.mod_revision,
                                     source=kv.key.decode())  # fmt: skip

    def _decode_history(self, key: ResourceKey, kv: KeyValue) -> HistoryEntry:
        entry = json.loads(kv.value)
        document = entry.get("document")
        resource = (
            documents.to_resource(document, resource_version=kv.mod_revision, source=str(key))
            if document is not None
            else None
        )
        return HistoryEntry(
            revision=kv.mod_revision,
            time=datetime.fromisoformat(entry["time"]),
            applied_by=entry.get("appliedBy", ""),
            change=Change(entry["change"]),
            resource=resource,
        )

    def watch(
        self, kind: str = "", namespace: str = "", *, start_revision: int = 0
    ) -> AsyncIterator[ConfigEvent]:
        """Changes of ``kind`` in ``namespace``; see :func:`.watch.watch_config`."""
        return watch_config(self._store, self._decode, config_prefix(kind, namespace),
                            start_revision=start_revision)  # fmt: skip
