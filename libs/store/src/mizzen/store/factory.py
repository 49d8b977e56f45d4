"""Open a store from a URL: ``etcd://host:port[,host:port...]`` or ``memory://``."""

from __future__ import annotations

import weakref

from mizzen.store.contract import Store
from mizzen.store.errors import InvalidRequest
from mizzen.store.etcd import EtcdSettings, EtcdStore
from mizzen.store.memory import MemoryServer, MemoryStore

# Named in-memory servers shared by every client in this process (``memory://<name>``), so
# services composed in one process (``mizzen up --all-in-one``) share one store the way
# separate processes share one etcd. Weak: a server lives while a client or owner holds it.
_NAMED_SERVERS: weakref.WeakValueDictionary[str, MemoryServer] = weakref.WeakValueDictionary()


def named_memory_server(name: str) -> MemoryServer:
    """The process-wide in-memory server ``name``, created on first use.

    Hold the returned server for as long as the store must outlive its clients.
    """
    server = _NAMED_SERVERS.get(name)
    if server is None:
        server = MemoryServer()
        _NAMED_SERVERS[name] = server
    return server


async def open_store(url: str, *, etcd: EtcdSettings | None = None) -> Store:
    """A store for ``url``.

    * ``etcd://host:port[,host:port...]``: an :class:`~mizzen.store.etcd.EtcdStore` on those
      members, with ``etcd`` settings (defaults otherwise). Connects lazily: an unreachable
      etcd shows as StoreUnavailable on the first calls, not here.
    * ``memory://``: a :class:`~mizzen.store.memory.MemoryStore` on a new private server;
      ``memory://<name>``: on the process-wide server ``name`` (see
      :func:`named_memory_server`), shared by every component of this process that opens it.

    Raises :class:`~mizzen.store.errors.InvalidRequest` for any other URL.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise InvalidRequest(f"store URL {url!r} has no scheme; use etcd:// or memory://")
    if scheme == "memory":
        name = rest.strip("/")
        return MemoryStore(named_memory_server(name)) if name else MemoryStore()
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
