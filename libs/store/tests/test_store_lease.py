"""Leases on both implementations: keepalive, revocation, holder death, loss."""

from __future__ import annotations

import time

import pytest

from mizzen.store import EtcdStore, KeyValue, Lease, LeaseExpired, MemoryStore, Store
from mizzen.store.testing import StoreServer
from mizzen.testing import wait_for

# A lease's keys go when the server notices the expiry: etcd checks for expired leases
# every 500 ms, so "within the TTL" is measured with that much grace plus scheduling slack.
EXPIRY_GRACE = 0.8


async def test_revoking_a_lease_deletes_its_keys(store: Store) -> None:
    async with await store.grant(5) as lease:
        await store.put("/l/a", b"1", lease=lease)
        await store.put("/l/b", b"1", lease=lease.id)
        await store.put("/l/free", b"1")
        kv = await store.get("/l/a")
        assert kv is not None
        assert kv.lease == lease.id
    assert lease.revoked
    assert not lease.lost
    assert [kv.key for kv in (await store.range("/l/")).kvs] == [b"/l/free"]
    with pytest.raises(LeaseExpired):
        await store.put("/l/c", b"1", lease=lease)


async def test_a_lease_is_kept_alive_beyond_its_ttl(store: Store) -> None:
    lease = await store.grant(1)
    await store.put("/l/alive", b"1", lease=lease)
    granted = time.monotonic()
    await wait_for(
        lambda: lease.deadline > granted + 3 * lease.ttl,
        timeout=3 * lease.ttl + 2,
        message="refreshes past two TTLs",
    )
    assert await store.get("/l/alive") is not None
    assert not lease.lost
    await lease.revoke()


async def test_a_dead_holder_frees_its_key_within_the_ttl(
    backend: StoreServer, store: Store
) -> None:
    holder = await backend.open()
    lease = await holder.grant(1)
    await holder.put("/l/held", b"mine", lease=lease)
    await wait_for(lambda: lease.deadline > time.monotonic() + 0.5, message="a refresh")

    await holder.close()  # the holder dies: no more keepalives, nothing revoked
    died = time.monotonic()

    async def freed() -> bool:
        return await store.get("/l/held") is None

    await wait_for(freed, timeout=lease.ttl + 2, message="the key to expire")
    assert time.monotonic() - died <= lease.ttl + EXPIRY_GRACE


async def test_a_lease_is_lost_when_keepalives_fail_for_a_ttl(backend: StoreServer) -> None:
    client = await backend.open(call_timeout=0.5)
    lost: list[Lease] = []
    lease = await client.grant(1, on_lost=lost.append)
    await backend.kill()
    try:
        killed = time.monotonic()
        await wait_for(lambda: lost, timeout=3, message="the lost callback")
        assert time.monotonic() - killed <= lease.ttl + 0.2
        assert lost == [lease]
        assert lease.lost
        assert lease.lost_reason == "keepalive failed for a whole TTL"
    finally:
        await backend.start()


async def test_a_lease_survives_a_restart_shorter_than_its_ttl(
    backend: StoreServer, store: Store
) -> None:
    lost: list[Lease] = []
    lease = await store.grant(3, on_lost=lost.append)
    await store.put("/l/restart", b"1", lease=lease)
    await backend.kill()
    await backend.start()
    restarted = time.monotonic()
    await wait_for(
        lambda: lease.deadline > restarted + lease.ttl,  # refreshed after the restart
        timeout=lease.ttl,
        message="a refresh after the restart",
    )
    assert not lost
    assert await store.get("/l/restart") is not None
    await lease.revoke()


async def test_a_lease_revoked_elsewhere_is_reported_lost(
    backend: StoreServer, store: Store
) -> None:
    lost: list[Lease] = []
    lease = await store.grant(1, on_lost=lost.append)
    await wait_for(lambda: lease.deadline > time.monotonic() + 0.5, message="a refresh")
    other = await backend.open()
    assert isinstance(other, EtcdStore | MemoryStore)
    await other.revoke_lease(lease.id)  # as an operator would, from another process
    await wait_for(lambda: lost, timeout=lease.ttl + 1, message="the lost callback")
    assert lease.lost_reason == "expired on the server"


async def test_keys_of_a_lease_carry_its_id(store: Store) -> None:
    lease = await store.grant(2)
    revision = await store.put("/l/id", b"1", lease=lease)
    assert await store.get("/l/id") == KeyValue(b"/l/id", b"1", revision, revision, 1, lease.id)
    await lease.revoke()
    await lease.revoke()  # idempotent
