"""An immutable snapshot of the registry, and a view that keeps one current from a watch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import structlog

from mizzen.registry.codec import decode_endpoint, decode_service
from mizzen.registry.keys import ENDPOINTS_PREFIX, REGISTRY_PREFIX, SERVICES_PREFIX
from mizzen.registry.model import Endpoint, Service
from mizzen.store import Event, EventType, KeyValue, Reset, Store, list_prefix

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Registry:
    """The registry at one store revision: services by hostname, endpoints by hostname.

    Endpoints are sorted by ``endpoint_id`` so that equal registries produce equal output.
    Endpoints of a hostname that has no service entry are kept (their service may arrive
    later) but consumers translate only services.
    """

    services: Mapping[str, Service] = field(default_factory=lambda: MappingProxyType({}))
    endpoints: Mapping[str, tuple[Endpoint, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    revision: int = 0

    def endpoints_of(self, hostname: str) -> tuple[Endpoint, ...]:
        """The endpoints of ``hostname`` (empty if none)."""
        return self.endpoints.get(hostname, ())


class RegistryView:
    """Keeps a :class:`Registry` current by applying store watch items to it.

    Feed it the listing (:meth:`load`) and then every item of a watch on
    ``/mizzen/registry/`` (:meth:`apply`); read :attr:`current`. Undecodable values are
    logged and skipped, never fatal. Not thread-safe; one event loop.
    """

    def __init__(self) -> None:
        self._kvs: dict[bytes, KeyValue] = {}
        self._revision = 0
        self._current: Registry | None = None

    async def load(self, store: Store) -> int:
        """Read the whole registry; returns the revision to watch from (exclusive)."""
        listing = await list_prefix(store, REGISTRY_PREFIX.encode())
        self._kvs = {kv.key: kv for kv in listing.kvs}
        self._revision = listing.revision
        self._current = None
        return listing.revision

    def apply(self, item: Event | Reset) -> None:
        """Apply one watch item (an event, or a reset with the full listing)."""
        if isinstance(item, Reset):
            self._kvs = {kv.key: kv for kv in item.kvs}
            self._revision = item.revision
        elif item.type is EventType.DELETE:
            self._kvs.pop(item.kv.key, None)
            self._revision = item.revision
        else:
            self._kvs[item.kv.key] = item.kv
            self._revision = item.revision
        self._current = None

    @property
    def current(self) -> Registry:
        """The registry as of the last item applied (built lazily, then cached)."""
        if self._current is None:
            self._current = self._build()
        return self._current

    def _build(self) -> Registry:
        services: dict[str, Service] = {}
        endpoints: dict[str, list[Endpoint]] = {}
        for key, kv in self._kvs.items():
            text = key.decode()
            try:
                if text.startswith(SERVICES_PREFIX):
                    service = decode_service(kv.value)
                    services[service.hostname] = service
                elif text.startswith(ENDPOINTS_PREFIX):
                    endpoint = decode_endpoint(kv.value)
                    endpoints.setdefault(endpoint.service, []).append(endpoint)
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("registry value skipped", key=text, error=str(exc))
        return Registry(
            services=MappingProxyType(dict(sorted(services.items()))),
            endpoints=MappingProxyType({
                host: tuple(sorted(eps, key=lambda e: e.endpoint_id))
                for host, eps in sorted(endpoints.items())
            }),
            revision=self._revision,
        )  # fmt: skip
