"""Mizzen's state store: one async contract, on etcd or in memory.

The public surface::

    store = await open_store("etcd://127.0.0.1:2379")  # or "memory://"
    revision = await store.put("/mizzen/config/a", b"...")
    kv = await store.get("/mizzen/config/a")
    page = await store.range("/mizzen/config/", limit=100)
    await store.put_if("/mizzen/config/a", b"new", mod_revision=kv.mod_revision)  # CAS
    await store.commit(Txn().when_missing("/x").then_put("/x", b"1"))
    async with store.watch("/mizzen/config/", start_revision=page.revision + 1) as watch:
        async for item in watch:  # Event (PUT/DELETE) or Reset (after compaction)
            ...
    async with await store.grant(ttl=2) as lease:
        await store.put("/mizzen/proxies/p1", b"...", lease=lease)
    leadership = await Election(store, "/mizzen/election/xds").campaign(b"me", lease=lease)

See :class:`Store` for the contract, :mod:`mizzen.store.errors` for the errors.
"""

from mizzen.store.contract import LostCallback, Store
from mizzen.store.election import Election, Leader, Leadership
from mizzen.store.errors import (
    Compacted,
    Conflict,
    InvalidRequest,
    LeaseExpired,
    StoreClosed,
    StoreError,
    StoreTimeout,
    StoreUnavailable,
)
from mizzen.store.etcd import EtcdSettings, EtcdStore
from mizzen.store.factory import named_memory_server, open_store
from mizzen.store.lease import Lease
from mizzen.store.memory import MemoryServer, MemoryStore
from mizzen.store.model import (
    DeleteResult,
    Event,
    EventType,
    Key,
    KeyValue,
    RangeResult,
    Reset,
    TxnResult,
    WatchItem,
)
from mizzen.store.txn import Txn
from mizzen.store.watch import Watch, apply_to_view, list_prefix

__all__ = [
    "Compacted",
    "Conflict",
    "DeleteResult",
    "Election",
    "EtcdSettings",
    "EtcdStore",
    "Event",
    "EventType",
    "InvalidRequest",
    "Key",
    "KeyValue",
    "Leader",
    "Leadership",
    "Lease",
    "LeaseExpired",
    "LostCallback",
    "MemoryServer",
    "MemoryStore",
    "RangeResult",
    "Reset",
    "Store",
    "StoreClosed",
    "StoreError",
    "StoreTimeout",
    "StoreUnavailable",
    "Txn",
    "TxnResult",
    "Watch",
    "WatchItem",
    "apply_to_view",
    "list_prefix",
    "named_memory_server",
    "open_store",
]
