"""ServiceEntry and WorkloadEntry from the config store, as a registry source."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from mizzen.api import Resource, ServiceEntry, WorkloadEntry
from mizzen.configstore import ConfigEvent, ConfigRepository, EventType, ResourceKey
from mizzen.discovery.domain.serviceentry import (
    SERVICEENTRY_SOURCE,
    WORKLOADENTRY_SOURCE,
    desired_from_config,
)
from mizzen.discovery.domain.source import DesiredState, Publish

log = structlog.get_logger(__name__)

_KINDS = (ServiceEntry.KIND, WorkloadEntry.KIND)
_Item = tuple[str, ConfigEvent] | BaseException
"""A watched kind and one of its events, or the error that ended its watch."""


class ConfigSource:
    """Watches ServiceEntries and WorkloadEntries; publishes the registry they stand for.

    Implements :class:`~mizzen.discovery.domain.source.Source`. It publishes only after both
    kinds are fully listed, then after every batch of changes (a burst of events is applied
    before one publish) that changes the desired state. The config watch survives store
    restarts and compaction (it re-syncs and says SYNCED again), so what it publishes converges
    on the stored config.
    """

    name = SERVICEENTRY_SOURCE
    owns = frozenset({SERVICEENTRY_SOURCE, WORKLOADENTRY_SOURCE})

    def __init__(self, repository: ConfigRepository) -> None:
        self._repository = repository

    async def run(self, publish: Publish) -> None:
        """See :meth:`~mizzen.discovery.domain.source.Source.run`."""
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        pumps = [asyncio.ensure_future(self._pump(kind, queue)) for kind in _KINDS]
        resources: dict[ResourceKey, Resource] = {}
        synced: set[str] = set()
        published: DesiredState | None = None
        try:
            while True:
                item = await queue.get()
                while True:
                    if isinstance(item, BaseException):
                        raise item
                    kind, event = item
                    if event.type is EventType.SYNCED:
                        synced.add(kind)
                    else:
                        _apply(resources, event)
                    if queue.empty():
                        break
                    item = queue.get_nowait()
                if synced != set(_KINDS):
                    continue
                desired = desired_from_config(
                    (r for r in resources.values() if isinstance(r, ServiceEntry)),
                    (r for r in resources.values() if isinstance(r, WorkloadEntry)),
                )
                if desired != published:
                    published = desired
                    log.debug(
                        "serviceentry state changed",
                        services=len(desired.services),
                        endpoints=len(desired.endpoints),
                    )
                    publish(desired)
        finally:
            for pump in pumps:
                pump.cancel()
            for pump in pumps:
                with contextlib.suppress(asyncio.CancelledError):
                    await pump

    async def _pump(self, kind: str, queue: asyncio.Queue[_Item]) -> None:
        try:
            async for event in self._repository.watch(kind):
                queue.put_nowait((kind, event))
        except Exception as exc:
            # Handed to run(), which raises it: the reconciler logs it and starts over.
            queue.put_nowait(exc)


def _apply(resources: dict[ResourceKey, Resource], event: ConfigEvent) -> None:
    if event.key is None:
        return
    if event.type is EventType.DELETED:
        resources.pop(event.key, None)
    elif event.resource is not None:
        resources[event.key] = event.resource
