"""Writing the registry: the helpers every discovery source uses.

Two ways to write, matching the two kinds of source:

* **Registrations** (agents): :meth:`RegistryWriter.register` merges the services into what is
  stored (creating them if absent, adding or updating ports) and puts the endpoints under the
  registration's lease, in one transaction. Endpoints go when the lease does; services stay.
* **Declarative sources** (ServiceEntry/WorkloadEntry, Kubernetes later): a source computes
  the complete set of values it wants (:func:`desired_values`) and
  :meth:`RegistryWriter.reconcile` makes the store hold exactly that for the sources it owns:
  it lists the registry, diffs (:func:`plan_reconcile`), and writes the difference in
  transactions that compare every key's ``mod_revision`` with the one the diff was computed
  from, so a concurrent writer makes it re-list instead of being overwritten blindly. An
  optional :class:`Fence` (an election candidate key) makes every transaction fail once the
  writer is no longer the leader.

Which source owns a stored value is the value's own ``source`` field.

Errors::

    RegistryError          base of everything this module raises (store errors pass through
    │                      unchanged as mizzen.store.StoreError)
    ├── WriteConflict      concurrent writers kept a write from succeeding in max_attempts
    └── FenceLost          the fence key is gone or was re-created: the writer lost leadership
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from mizzen.registry.codec import decode_service, encode_endpoint, encode_service
from mizzen.registry.keys import REGISTRY_PREFIX, SERVICES_PREFIX, endpoint_key, service_key
from mizzen.registry.model import Endpoint, Service, ServicePort
from mizzen.store import KeyValue, Store, Txn, list_prefix
from mizzen.store.model import LeaseArg

log = structlog.get_logger(__name__)

DEFAULT_BATCH_SIZE = 64
"""Writes per transaction (etcd refuses more than 128 operations in one by default)."""


class RegistryError(Exception):
    """Base of the errors of :mod:`mizzen.registry`."""


class WriteConflict(RegistryError):
    """Other writers changed the keys ``attempts`` times in a row while this one tried."""

    def __init__(self, operation: str, *, attempts: int) -> None:
        self.operation = operation
        self.attempts = attempts
        super().__init__(f"{operation}: concurrent writes kept conflicting ({attempts} attempts)")


class FenceLost(RegistryError):
    """The fence key no longer exists at its create revision: another writer leads now."""

    def __init__(self, fence: Fence) -> None:
        self.fence = fence
        super().__init__(
            f"fence {fence.key!r} (created at revision {fence.create_revision}) is gone"
        )


@dataclass(frozen=True, slots=True)
class Fence:
    """Guards writes: they apply only while ``key`` exists with ``create_revision``.

    Built from an election :class:`~mizzen.store.Leadership` (its ``key`` and
    ``create_revision``), it keeps a deposed leader from writing after a new one was elected.
    """

    key: bytes
    create_revision: int


@dataclass(frozen=True, slots=True)
class PlannedPut:
    """Put ``value`` at ``key`` if the key is still at ``mod_revision`` (0: absent)."""

    key: str
    value: bytes
    mod_revision: int


@dataclass(frozen=True, slots=True)
class PlannedDelete:
    """Delete ``key`` if it is still at ``mod_revision``."""

    key: str
    mod_revision: int


@dataclass(frozen=True, slots=True)
class ReconcilePlan:
    """The writes that make a source's keys equal to its desired values.

    Puts come services first (so an endpoint never precedes its service), deletes endpoints
    first (so a service never goes before its endpoints) when split across transactions.
    """

    puts: tuple[PlannedPut, ...] = ()
    deletes: tuple[PlannedDelete, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether the store already holds the desired values."""
        return not self.puts and not self.deletes


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What a reconcile did.

    ``revision``: the store revision after its last write, or the revision it read when it
    had nothing to write. ``written``: the revisions of the transactions it committed (a
    watcher can recognise its own writes by them). ``puts``/``deletes``: keys written.
    """

    revision: int
    written: tuple[int, ...] = ()
    puts: int = 0
    deletes: int = 0
    keys: frozenset[str] = field(default_factory=frozenset)
    """The keys the owned sources hold afterwards (the desired keys)."""


def value_source(value: bytes) -> str | None:
    """The ``source`` field of a stored registry value; ``None`` if it is not a JSON object."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    source = data.get("source", "")
    return source if isinstance(source, str) else None


def desired_values(services: Iterable[Service], endpoints: Iterable[Endpoint]) -> dict[str, bytes]:
    """The registry keys and stored values of ``services`` and ``endpoints``.

    Two values for one key: the later one wins (sources should not produce such).
    """
    values = {service_key(s.hostname): encode_service(s) for s in services}
    for endpoint in endpoints:
        values[endpoint_key(endpoint.service, endpoint.endpoint_id)] = encode_endpoint(endpoint)
    return values


def _is_service(key: str) -> bool:
    return key.startswith(SERVICES_PREFIX)


def plan_reconcile(
    desired: Mapping[str, bytes], current: Iterable[KeyValue], owned: Collection[str]
) -> ReconcilePlan:
    """The writes that make the keys held by the ``owned`` sources equal ``desired``.

    ``current`` is the registry as listed. A desired key is put when absent or different
    (also when another source holds it: desired values win); a key held by an owned source
    and not desired is deleted. Values that are not JSON objects are held by nobody: they are
    overwritten when desired and left alone otherwise. Pure; ``desired`` is not modified.
    """
    by_key = {kv.key.decode(): kv for kv in current}
    puts = [
        PlannedPut(key, value, by_key[key].mod_revision if key in by_key else 0)
        for key, value in desired.items()
        if key not in by_key or by_key[key].value != value or by_key[key].lease
    ]
    deletes = [
        PlannedDelete(key, kv.mod_revision)
        for key, kv in by_key.items()
        if key not in desired and value_source(kv.value) in owned
    ]
    puts.sort(key=lambda p: (not _is_service(p.key), p.key))
    deletes.sort(key=lambda d: (_is_service(d.key), d.key))
    return ReconcilePlan(tuple(puts), tuple(deletes))


def merge_service(existing: Service | None, incoming: Service) -> Service | None:
    """The service to store when ``incoming`` is registered over ``existing``.

    Absent: ``incoming``. Held by the same source: ``existing`` with ``incoming``'s ports
    added, a port number present in both taking ``incoming``'s protocol and name (the latest
    registration decides). Held by another source (for example a ServiceEntry for the same
    host): left alone. Returns ``None`` when nothing needs writing.
    """
    if existing is None:
        return incoming
    if existing.source != incoming.source:
        return None
    ports: dict[int, ServicePort] = {p.number: p for p in existing.ports}
    ports.update((p.number, p) for p in incoming.ports)
    merged_ports = tuple(ports[n] for n in sorted(ports))
    if merged_ports == existing.ports:
        return None
    return Service(
        hostname=existing.hostname,
        namespace=existing.namespace,
        ports=merged_ports,
        labels=existing.labels,
        addresses=existing.addresses,
        resolution=existing.resolution,
        mesh_external=existing.mesh_external,
        export_to=existing.export_to,
        source=existing.source,
    )


class RegistryWriter:
    """Writes services and endpoints under ``/mizzen/registry/`` (see the module docstring).

    Stateless apart from its settings: any number of tasks may use one writer concurrently.
    The store is owned by the caller. ``batch_size`` bounds the writes per transaction;
    ``max_attempts`` bounds how often a write re-reads after a conflicting concurrent write.
    """

    def __init__(
        self, store: Store, *, batch_size: int = DEFAULT_BATCH_SIZE, max_attempts: int = 10
    ) -> None:
        # etcd refuses transactions of more than 128 operations (its default --max-txn-ops),
        # and every batch also carries the fence compare.
        if not 0 < batch_size <= 127:
            raise ValueError(f"batch_size must be in 1..127, not {batch_size}")
        self._store = store
        self._batch_size = batch_size
        self._max_attempts = max_attempts

    async def put_service(self, service: Service) -> int:
        """Store ``service`` as given (no merge); returns the new revision."""
        return await self._store.put(service_key(service.hostname), encode_service(service))

    async def put_endpoints(self, endpoints: Sequence[Endpoint], *, lease: LeaseArg = None) -> int:
        """Store ``endpoints`` in one transaction, attached to ``lease`` if given.

        Returns the new revision. A lease that no longer exists raises
        :class:`~mizzen.store.LeaseExpired` and writes nothing.
        """
        txn = Txn()
        for endpoint in endpoints:
            key = endpoint_key(endpoint.service, endpoint.endpoint_id)
            txn.then_put(key, encode_endpoint(endpoint), lease=lease)
        return (await self._store.commit(txn)).revision

    async def register(
        self, services: Sequence[Service], endpoints: Sequence[Endpoint], *, lease: LeaseArg
    ) -> int:
        """Merge ``services`` into the store and put ``endpoints`` under ``lease``, atomically.

        Each service is merged with :func:`merge_service` (compare-and-swap on the services
        that change, retried on a concurrent change). Returns the revision of the write (the
        current one if nothing changed). Raises :class:`WriteConflict` after ``max_attempts``
        conflicts and :class:`~mizzen.store.LeaseExpired` if the lease is gone.
        """
        incoming: dict[str, Service] = {}
        for service in services:
            previous = incoming.get(service.hostname)
            incoming[service.hostname] = (
                service if previous is None else merge_service(previous, service) or previous
            )
        for _ in range(self._max_attempts):
            txn = Txn()
            for hostname, service in incoming.items():
                key = service_key(hostname)
                kv = await self._store.get(key)
                merged = merge_service(_decode_or_none(kv), service)
                if merged is not None:
                    txn.when_mod_revision(key, "==", kv.mod_revision if kv is not None else 0)
                    txn.then_put(key, encode_service(merged))
            for endpoint in endpoints:
                key = endpoint_key(endpoint.service, endpoint.endpoint_id)
                txn.then_put(key, encode_endpoint(endpoint), lease=lease)
            result = await self._store.commit(txn)
            if result.succeeded:
                return result.revision
            log.debug("registry register raced another writer; retrying")
        raise WriteConflict("register", attempts=self._max_attempts)

    async def delete_source(self, source: str, *, fence: Fence | None = None) -> int:
        """Delete every registry value held by ``source``; returns how many were deleted."""
        result = await self.reconcile({source}, {}, fence=fence)
        return result.deletes

    async def reconcile(
        self,
        owned: Collection[str],
        desired: Mapping[str, bytes],
        *,
        fence: Fence | None = None,
    ) -> ReconcileResult:
        """Make the keys held by the ``owned`` sources exactly ``desired``.

        ``desired`` maps registry keys to stored values (see :func:`desired_values`); every
        value should carry one of the ``owned`` sources, or the next reconcile will not
        recognise it as its own. Lists the registry, writes the difference in batches, and
        re-lists after a batch refused by a concurrent change. Raises :class:`FenceLost` when
        ``fence`` fails, :class:`WriteConflict` after ``max_attempts`` refused batches.
        """
        written: list[int] = []
        puts = deletes = 0
        for _ in range(self._max_attempts):
            listing = await list_prefix(self._store, REGISTRY_PREFIX.encode())
            plan = plan_reconcile(desired, listing.kvs, owned)
            if plan.empty:
                revision = written[-1] if written else listing.revision
                return ReconcileResult(revision, tuple(written), puts, deletes, frozenset(desired))
            done, revisions, applied_puts, applied_deletes = await self._apply(plan, fence)
            written.extend(revisions)
            puts += applied_puts
            deletes += applied_deletes
            if done:
                log.info(
                    "registry reconciled",
                    sources=sorted(owned),
                    puts=puts,
                    deletes=deletes,
                    revision=written[-1],
                )
                return ReconcileResult(
                    written[-1], tuple(written), puts, deletes, frozenset(desired)
                )
            if fence is not None and not await self._fence_holds(fence):
                raise FenceLost(fence)
            log.debug("registry reconcile raced another writer; listing again")
        raise WriteConflict("reconcile", attempts=self._max_attempts)

    async def _apply(
        self, plan: ReconcilePlan, fence: Fence | None
    ) -> tuple[bool, list[int], int, int]:
        """Commit the plan in batches; stop at the first refused one.

        Returns (all committed, revisions committed, puts applied, deletes applied).
        """
        ops: list[PlannedPut | PlannedDelete] = [*plan.puts, *plan.deletes]
        revisions: list[int] = []
        puts = deletes = 0
        for start in range(0, len(ops), self._batch_size):
            batch = ops[start : start + self._batch_size]
            txn = Txn()
            if fence is not None:
                txn.when_create_revision(fence.key, "==", fence.create_revision)
            for op in batch:
                txn.when_mod_revision(op.key, "==", op.mod_revision)
                if isinstance(op, PlannedPut):
                    txn.then_put(op.key, op.value)
                else:
                    txn.then_delete(op.key)
            result = await self._store.commit(txn)
            if not result.succeeded:
                return False, revisions, puts, deletes
            revisions.append(result.revision)
            puts += sum(isinstance(op, PlannedPut) for op in batch)
            deletes += sum(isinstance(op, PlannedDelete) for op in batch)
        return True, revisions, puts, deletes

    async def _fence_holds(self, fence: Fence) -> bool:
        kv = await self._store.get(fence.key)
        return kv is not None and kv.create_revision == fence.create_revision


def _decode_or_none(kv: KeyValue | None) -> Service | None:
    """The stored service, or ``None`` when absent or undecodable (then it is overwritten)."""
    if kv is None:
        return None
    try:
        return decode_service(kv.value)
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("registry service unreadable; overwriting", key=kv.key, error=str(exc))
        return None
