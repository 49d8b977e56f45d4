"""Virtual hosts carried from one translation to the next while only VirtualServices change.

Applying a VirtualService is the most frequent change a mesh sees, and it alters the virtual
hosts of the hosts that VirtualService routes, nothing else; yet every route configuration
holding them (one per port and scope, a thousand virtual hosts each in a large mesh) must be
rebuilt. :class:`VirtualHostCache` lets the rebuild copy every other virtual host from the
previous translation instead of generating it again.

The key is explicit and complete, so no input can be missed silently:

- the cache lives only across translations whose changed inputs are VirtualServices at most
  (:meth:`VirtualHostCache.carried`); any other change (services, endpoints,
  DestinationRules, Sidecars, ...) starts an empty one;
- an entry is keyed by everything its route set's id names (mode, namespace, route scope: the
  proxy-dependent inputs, see :mod:`.view`) plus the host and port;
- it is reused only when the VirtualService that routes the host now is the very object it
  was built from (config resources are immutable; a re-applied one is a new object).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from mizzen.api import VirtualService

__all__ = ["VhostKey", "VirtualHostCache"]

VhostKey = tuple[str, str, str, str, int]
"""``(mode, namespace, route scope, hostname, port)``."""


class VirtualHostCache:
    """Built virtual hosts by key, each with the VirtualService it was built from.

    Entries are Envoy ``VirtualHost`` messages that nobody may modify (callers copy them into
    the configurations they build). Not thread-safe; one translation at a time.
    """

    def __init__(self, entries: dict[VhostKey, tuple[VirtualService | None, Any]] | None = None):
        self._entries = entries if entries is not None else {}
        self.reused = 0
        """How many virtual hosts this cache served without building (for tests, metrics)."""

    @classmethod
    def carried(cls, previous: VirtualHostCache | None, changed: Iterable[str]) -> VirtualHostCache:
        """The cache for a translation whose inputs differ from ``previous``'s translation in
        ``changed`` (input names): ``previous``'s entries when only VirtualServices changed."""
        if previous is None or not set(changed) <= {"VirtualService"}:
            return cls()
        return cls(previous._entries)

    def virtual_host(
        self, key: VhostKey, virtual_service: VirtualService | None, build: Callable[[], Any]
    ) -> Any:
        """The virtual host for ``key`` routed by ``virtual_service``: the cached one if it was
        built from that very VirtualService, else ``build()`` (remembered)."""
        found = self._entries.get(key)
        if found is not None and found[0] is virtual_service:
            self.reused += 1
            return found[1]
        host = build()
        self._entries[key] = (virtual_service, host)
        return host
