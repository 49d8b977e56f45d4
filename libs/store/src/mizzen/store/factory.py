"""Open a store from a URL: ``etcd://host:port[,host:port...]`` or ``memory://``."""

from __future__ import annotations

from mizzen.store.contract import Store
from mizzen.store.errors import InvalidRequest
from mizzen.store.etcd import EtcdSettings, EtcdStore
from mizzen.store.memory import MemoryStore


async def open_store(url: str, *, etcd: EtcdSettings | None = None) -> Store:
    """A store for ``url``.

    * ``etcd://host:port[,host:port...]``: an :class:`~mizzen.store.etcd.EtcdStore` on those
      members, with ``etcd`` settings (defaults otherwise). Connects lazily: an unreachable
      etcd shows as StoreUnavailable on the first calls, not here.
    * ``memory://``: a :class:`~mizzen.store.memory.MemoryStore` on a new private server. To
      share one in-memory server between components, build a ``MemoryServer`` and give each
      component ``MemoryStore(server)`` instead.

    Raises :class:`~mizzen.store.errors.InvalidRequest` for any other URL.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidRequest(f"store URL {url!r} has no scheme; use etcd:// or memory://")
    if scheme == "memory":
        if rest.strip("/"):
            raise InvalidRequest(f"store URL {url!r}: memory:// takes no address")
        return MemoryStore()
    if scheme == "etcd":
        endpoints = [part.strip() for part in rest.rstrip("/").split(",") if part.strip()]
        if not endpoints:
            raise InvalidRequest(f"store URL {url!r} names no etcd endpoint")
        for endpoint in endpoints:
            host, colon, port = endpoint.rpartition(":")
            if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise InvalidRequest(f"store URL {url!r}: {endpoint!r} is not host:port")
        return await EtcdStore.connect(endpoints, etcd)
    raise InvalidRequest(f"store URL {url!r}: unknown scheme {scheme!r}; use etcd:// or memory://")
