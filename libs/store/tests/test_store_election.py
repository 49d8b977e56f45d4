"""Leader election on both implementations."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import pytest

from mizzen.store import Election, Leader, Leadership, LeaseExpired, Store, StoreError
from mizzen.store.testing import StoreServer
from mizzen.testing import wait_for

TTL = 1
# etcd notices expired leases every 500 ms; the successor also needs one watch round trip.
TAKEOVER_GRACE = 0.9


async def candidates(store: Store, election: Election) -> int:
    return len((await store.range(election.prefix)).kvs)


def registered(store: Store, election: Election, count: int) -> Callable[[], Awaitable[bool]]:
    """A wait_for condition: ``count`` candidates have registered."""

    async def check() -> bool:
        return await candidates(store, election) == count

    return check


async def test_one_of_three_leads_and_a_successor_takes_over_when_it_dies(
    backend: StoreServer, store: Store
) -> None:
    clients = [await backend.open() for _ in range(3)]
    leases = [await client.grant(TTL) for client in clients]
    elections = [Election(client, "/el/three") for client in clients]
    tasks = [
        asyncio.ensure_future(election.campaign(f"c{n}".encode(), lease=lease))
        for n, (election, lease) in enumerate(zip(elections, leases, strict=True))
    ]
    observer = Election(store, "/el/three")
    try:
        await wait_for(registered(store, observer, 3), message="all registered")
        await wait_for(lambda: any(t.done() for t in tasks), message="a leader")
        winners = [n for n, task in enumerate(tasks) if task.done()]
        assert len(winners) == 1, "exactly one leads"
        first = winners[0]
        leadership: Leadership = tasks[first].result()
        leader = await observer.leader()
        assert leader is not None
        assert (leader.key, leader.value) == (leadership.key, f"c{first}".encode())

        # Kill the leader: its client dies without revoking anything.
        await clients[first].close()
        killed = time.monotonic()
        await wait_for(
            lambda: sum(t.done() for t in tasks) == 2, timeout=TTL + 3, message="a successor"
        )
        assert time.monotonic() - killed <= TTL + TAKEOVER_GRACE
        successors = [n for n, task in enumerate(tasks) if task.done() and n != first]
        assert len(successors) == 1
        second = successors[0]
        successor: Leadership = tasks[second].result()
        assert leadership.lost
        leader = await observer.leader()
        assert leader is not None
        assert leader.key == successor.key
        assert successor.create_revision < min(
            kv.create_revision
            for kv in (await store.range(observer.prefix)).kvs
            if kv.key != successor.key
        )

        # Resigning hands over at once.
        await successor.resign()
        assert not successor.lost
        await wait_for(lambda: all(t.done() for t in tasks), timeout=2, message="the third")
    finally:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, StoreError):
                await task


async def test_observe_reports_every_change_of_leader(backend: StoreServer, store: Store) -> None:
    a, b = await backend.open(), await backend.open()
    lease_a, lease_b = await a.grant(5), await b.grant(5)
    observed = Election(store, "/el/observe").observe()
    try:
        assert await anext(observed) is None
        leading = await Election(a, "/el/observe").campaign(b"a", lease=lease_a)
        first = await asyncio.wait_for(anext(observed), 5)
        assert isinstance(first, Leader)
        assert (first.value, first.lease) == (b"a", lease_a.id)

        waiting = asyncio.ensure_future(Election(b, "/el/observe").campaign(b"b", lease=lease_b))
        await wait_for(registered(store, Election(store, "/el/observe"), 2))
        await leading.resign()
        second = await asyncio.wait_for(anext(observed), 5)
        assert second is not None
        assert second.value == b"b"
        await asyncio.wait_for(waiting, 5)

        await lease_b.revoke()
        assert await asyncio.wait_for(anext(observed), 5) is None
    finally:
        await observed.aclose()


async def test_leadership_is_lost_with_its_lease(backend: StoreServer) -> None:
    client = await backend.open(call_timeout=0.5)
    lease = await client.grant(TTL)
    lost: list[Leadership] = []
    leadership = await Election(client, "/el/lose").campaign(b"x", lease=lease, on_lost=lost.append)
    await backend.kill()
    try:
        await wait_for(lambda: lost, timeout=TTL + 2, message="leadership lost")
        assert lost == [leadership]
        assert leadership.lost_reason is not None
        assert leadership.lost_reason.startswith("lease lost")
    finally:
        await backend.start()


async def test_leadership_is_lost_when_its_key_is_deleted(store: Store) -> None:
    lease = await store.grant(5)
    leadership = await Election(store, "/el/deleted").campaign(b"x", lease=lease)
    await store.delete(leadership.key)
    await asyncio.wait_for(leadership.wait_lost(), 5)
    assert leadership.lost_reason == "candidate key deleted"
    await lease.revoke()


async def test_a_cancelled_campaign_withdraws_its_candidate(
    backend: StoreServer, store: Store
) -> None:
    other = await backend.open()
    election = Election(store, "/el/cancel")
    leading = await election.campaign(b"first", lease=await store.grant(5))
    pending = asyncio.ensure_future(
        Election(other, "/el/cancel").campaign(b"second", lease=await other.grant(5))
    )
    await wait_for(registered(store, election, 2), message="second registered")
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    assert await candidates(store, election) == 1
    await leading.resign()
    assert await election.leader() is None


async def test_campaigning_with_a_lost_lease_is_refused(backend: StoreServer) -> None:
    client = await backend.open()
    lease = await client.grant(TTL)
    await client.close()
    with pytest.raises(LeaseExpired):
        await Election(client, "/el/refused").campaign(b"x", lease=lease)
