"""Test support: a store server that tests can open clients on and break on purpose.

One contract test can then run on both implementations and inject the faults a store must
survive. :class:`StoreServer` is the interface; :class:`MemoryStoreServer` implements it
with :class:`~mizzen.store.MemoryServer`'s hooks and :class:`EtcdStoreServer` with real
signals to an etcd process (anything shaped like :class:`mizzen.launcher.EtcdProcess`)::

    server = EtcdStoreServer(etcd_process)      # or MemoryStoreServer()
    store = await server.open()
    await server.kill(); await server.start()   # kill -9 and restart
    server.freeze(); server.thaw()              # SIGSTOP / SIGCONT
    await server.close()                        # closes every client opened here
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import Protocol

from mizzen.store.contract import Store
from mizzen.store.etcd import EtcdSettings, EtcdStore
from mizzen.store.memory import MemoryServer, MemoryStore


class StoreServer(Protocol):
    """A store server under test, with fault hooks."""

    @property
    def kind(self) -> str:
        """``"memory"`` or ``"etcd"``."""
        ...

    async def open(self, *, call_timeout: float = 2.0) -> Store:
        """A new client with that per-call deadline (closed by :meth:`close`)."""
        ...

    async def kill(self) -> None:
        """Kill the server as ``kill -9`` would: connections drop, calls fail."""
        ...

    async def start(self) -> None:
        """Start the server again and return once it serves."""
        ...

    def freeze(self) -> None:
        """Stop the server answering without closing connections (SIGSTOP)."""
        ...

    def thaw(self) -> None:
        """Let a frozen server answer again (SIGCONT)."""
        ...

    async def close(self) -> None:
        """Thaw, close every client opened here, and leave the server running."""
        ...


class EtcdProcessLike(Protocol):
    """What :class:`EtcdStoreServer` needs of an etcd process (EtcdProcess has it)."""

    @property
    def endpoint(self) -> str:
        """``host:port`` of the client API."""
        ...

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        ...

    @property
    def running(self) -> bool:
        """Whether it runs."""
        ...

    async def kill(self) -> int | None:
        """SIGKILL it and reap it."""
        ...

    async def start(self) -> None:
        """Start it and wait until it is ready."""
        ...


class EtcdStoreServer:
    """A real etcd process; faults are real signals. Clients reconnect quickly (≤ 0.5 s)."""

    kind = "etcd"

    def __init__(self, process: EtcdProcessLike) -> None:
        self.process = process
        self._clients: list[EtcdStore] = []
        self._frozen_pid: int | None = None

    async def open(self, *, call_timeout: float = 2.0) -> Store:
        """See :meth:`StoreServer.open`."""
        settings = EtcdSettings(
            call_timeout=call_timeout, reconnect_backoff_max=0.5, watch_retry_max=0.5
        )
        client = await EtcdStore.connect([self.process.endpoint], settings)
        self._clients.append(client)
        return client

    async def kill(self) -> None:
        """See :meth:`StoreServer.kill`."""
        self.thaw()
        await self.process.kill()

    async def start(self) -> None:
        """See :meth:`StoreServer.start`."""
        await self.process.start()

    def freeze(self) -> None:
        """See :meth:`StoreServer.freeze`."""
        pid = self.process.pid
        if pid is None:
            raise RuntimeError("etcd is not running")
        os.kill(pid, signal.SIGSTOP)
        self._frozen_pid = pid

    def thaw(self) -> None:
        """See :meth:`StoreServer.thaw`."""
        pid, self._frozen_pid = self._frozen_pid, None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    async def close(self) -> None:
        """See :meth:`StoreServer.close`."""
        self.thaw()
        for client in self._clients:
            await client.close()
        if not self.process.running:
            await self.process.start()


class MemoryStoreServer:
    """A :class:`~mizzen.store.MemoryServer`; faults are its hooks."""

    kind = "memory"

    def __init__(self, server: MemoryServer | None = None) -> None:
        self.server = server if server is not None else MemoryServer()
        self._clients: list[MemoryStore] = []

    async def open(self, *, call_timeout: float = 2.0) -> Store:
        """See :meth:`StoreServer.open`."""
        client = MemoryStore(self.server, call_timeout=call_timeout)
        self._clients.append(client)
        return client

    async def kill(self) -> None:
        """See :meth:`StoreServer.kill`."""
        self.server.kill()

    async def start(self) -> None:
        """See :meth:`StoreServer.start`."""
        self.server.start()

    def freeze(self) -> None:
        """See :meth:`StoreServer.freeze`."""
        self.server.freeze()

    def thaw(self) -> None:
        """See :meth:`StoreServer.thaw`."""
        self.server.thaw()

    async def close(self) -> None:
        """See :meth:`StoreServer.close`."""
        if self.server.frozen:
            self.server.thaw()
        if not self.server.up:
            self.server.start()
        for client in self._clients:
            await client.close()
