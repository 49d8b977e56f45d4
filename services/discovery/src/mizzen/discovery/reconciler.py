"""Runs the declarative sources on one elected replica and writes what they want.

Every replica campaigns in the election ``/mizzen/elections/discovery``; the leader runs each
:class:`~mizzen.discovery.domain.source.Source` and reconciles the registry with the desired
state it publishes (:meth:`mizzen.registry.RegistryWriter.reconcile`: list, diff, write in
transactions). Every write is fenced by the leader's election key, so a replica that lost the
election cannot write any more. The leader also watches the registry and reconciles a source
again when someone else changed or deleted one of its keys, so the registry converges after
restarts (the first reconcile of a round diffs the whole registry), compactions (a watch reset
triggers a reconcile of every source) and tampering.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Sequence
from typing import Any

import structlog

from mizzen.discovery.domain.errors import LeadershipLost
from mizzen.discovery.domain.source import DesiredState, Source
from mizzen.discovery.metrics import DiscoveryMetrics
from mizzen.registry import (
    REGISTRY_PREFIX,
    Fence,
    RegistryError,
    RegistryWriter,
    desired_values,
    value_source,
)
from mizzen.store import Election, EventType, Leadership, Reset, Store, StoreError

log = structlog.get_logger(__name__)

ELECTION = "/mizzen/elections/discovery"


class _SourceState:
    """One source's latest desired state and the keys it held after its last reconcile."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.desired: DesiredState | None = None
        self.keys: frozenset[str] = frozenset()
        self.dirty = asyncio.Event()

    def publish(self, desired: DesiredState) -> None:
        self.desired = desired
        self.dirty.set()

    def concerns(self, key: str, value: bytes | None) -> bool:
        """Whether a change of ``key`` (to ``value``; None: deleted) may need a reconcile."""
        if key in self.keys:
            return True
        return value is not None and value_source(value) in self.source.owns


class Reconciler:
    """Campaigns, and while leading runs the sources and reconciles the registry.

    :meth:`run` never returns: after a lost election, a store outage, a refused write or a
    failing source it pauses ``retry_delay`` seconds and campaigns again.
    """

    def __init__(
        self,
        store: Store,
        writer: RegistryWriter,
        sources: Sequence[Source],
        *,
        replica: str,
        lease_ttl: int,
        retry_delay: float = 1.0,
        metrics: DiscoveryMetrics | None = None,
    ) -> None:
        self._store = store
        self._writer = writer
        self._sources = list(sources)
        self._replica = replica
        self._lease_ttl = lease_ttl
        self._retry_delay = retry_delay
        self._metrics = metrics

    async def run(self) -> None:
        """Lead whenever elected; forever (until cancelled)."""
        election = Election(self._store, ELECTION)
        while True:
            try:
                async with await self._store.grant(self._lease_ttl) as lease:
                    leadership = await election.campaign(self._replica.encode(), lease=lease)
                    try:
                        await self._lead(leadership)
                    finally:
                        self._set_leader(False)
                        with contextlib.suppress(StoreError):
                            await leadership.resign()
            except (StoreError, RegistryError, LeadershipLost) as exc:
                log.warning(
                    "registry reconciliation interrupted",
                    error=str(exc),
                    retry_in=self._retry_delay,
                )
            except Exception:
                # A failing source must not take the replica (and every registration it holds)
                # down with it: report it and start the round again.
                log.exception("registry reconciliation failed", retry_in=self._retry_delay)
            await asyncio.sleep(self._retry_delay)  # backoff before campaigning again

    async def _lead(self, leadership: Leadership) -> None:
        log.info("registry reconciliation leader", replica=self._replica)
        self._set_leader(True)
        fence = Fence(leadership.key, leadership.create_revision)
        states = [_SourceState(source) for source in self._sources]
        own_revisions: set[int] = set()
        start = (await self._store.range(REGISTRY_PREFIX, limit=1)).revision
        work: list[Coroutine[Any, Any, None]] = [
            _until_lost(leadership),
            self._watch_registry(states, own_revisions, start),
        ]
        for state in states:
            work.append(state.source.run(state.publish))
            work.append(self._write(state, fence, own_revisions))
        await _run_all(work)

    async def _write(self, state: _SourceState, fence: Fence, own_revisions: set[int]) -> None:
        while True:
            await state.dirty.wait()
            state.dirty.clear()
            if state.desired is None:
                continue
            desired = desired_values(state.desired.services, state.desired.endpoints)
            result = await self._writer.reconcile(state.source.owns, desired, fence=fence)
            own_revisions.update(result.written)
            state.keys = result.keys
            if self._metrics is not None and (result.puts or result.deletes):
                writes = self._metrics.reconcile_writes
                writes.labels(source=state.source.name, operation="put").inc(result.puts)
                writes.labels(source=state.source.name, operation="delete").inc(result.deletes)

    async def _watch_registry(
        self, states: list[_SourceState], own_revisions: set[int], start: int
    ) -> None:
        async with self._store.watch(REGISTRY_PREFIX, start_revision=start + 1) as watch:
            async for item in watch:
                if isinstance(item, Reset):
                    for state in states:
                        state.dirty.set()
                    continue
                # Events arrive in revision order: older own writes will not show up again.
                own_revisions.difference_update({r for r in own_revisions if r < item.revision})
                if item.revision in own_revisions:
                    continue
                key = item.kv.key.decode()
                value = item.kv.value if item.type is EventType.PUT else None
                for state in states:
                    if state.concerns(key, value):
                        log.debug(
                            "registry changed under a source", key=key, source=state.source.name
                        )
                        state.dirty.set()

    def _set_leader(self, leading: bool) -> None:
        if self._metrics is not None:
            self._metrics.leader.set(1 if leading else 0)


async def _until_lost(leadership: Leadership) -> None:
    await leadership.wait_lost()
    raise LeadershipLost(f"registry reconciliation leadership lost: {leadership.lost_reason}")


async def _run_all(work: list[Coroutine[Any, Any, None]]) -> None:
    """Run ``work`` concurrently until one of them fails or returns; then cancel the rest and
    raise the failure (a returning task is a failure too: every one of them runs forever)."""
    tasks = [asyncio.ensure_future(w) for w in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error
    raise LeadershipLost("a reconciliation task ended unexpectedly")
