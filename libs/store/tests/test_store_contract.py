"""The key-value part of the store contract, on both implementations (see conftest.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from mizzen.store import (
    Compacted,
    Conflict,
    DeleteResult,
    InvalidRequest,
    KeyValue,
    LeaseExpired,
    Store,
    StoreClosed,
    StoreTimeout,
    StoreUnavailable,
    Txn,
    list_prefix,
)
from mizzen.store.testing import StoreServer
from mizzen.testing import wait_for


async def test_put_get_delete_keep_etcd_bookkeeping(store: Store) -> None:
    first = await store.put("/kv/a", b"1")
    assert await store.get(b"/kv/a") == KeyValue(b"/kv/a", b"1", first, first, 1, 0)

    second = await store.put("/kv/a", b"2")
    assert second == first + 1
    assert await store.get("/kv/a") == KeyValue(b"/kv/a", b"2", first, second, 2, 0)

    assert await store.delete("/kv/a") == DeleteResult(1, second + 1)
    assert await store.get("/kv/a") is None
    assert await store.delete("/kv/a") == DeleteResult(0, second + 1), "no-op keeps revision"

    again = await store.put("/kv/a", b"3")
    assert await store.get("/kv/a") == KeyValue(b"/kv/a", b"3", again, again, 1, 0)


async def test_str_keys_are_utf8_and_results_are_bytes(store: Store) -> None:
    await store.put("/kv/é", b"v")
    kv = await store.get(b"/kv/\xc3\xa9")
    assert kv is not None
    assert kv.key == b"/kv/\xc3\xa9"


async def test_an_empty_key_is_invalid(store: Store) -> None:
    with pytest.raises(InvalidRequest):
        await store.put("", b"v")
    with pytest.raises(InvalidRequest):
        await store.get(b"")


async def test_range_is_sorted_limited_and_pages_through_one_snapshot(store: Store) -> None:
    for name in ("c", "a", "d", "b"):
        await store.put(f"/r/{name}", name.encode())
    outside = await store.put("/rx", b"not under /r/")

    everything = await store.range("/r/")
    assert [kv.key for kv in everything.kvs] == [b"/r/a", b"/r/b", b"/r/c", b"/r/d"]
    assert everything.revision == outside
    assert not everything.more

    page = await store.range("/r/", limit=2)
    assert [kv.value for kv in page.kvs] == [b"a", b"b"]
    assert page.more
    await store.put("/r/bb", b"written after the first page")
    rest = await store.range("/r/", limit=2, after=page.kvs[-1].key, revision=page.revision)
    assert [kv.value for kv in rest.kvs] == [b"c", b"d"]
    assert not rest.more

    assert b"/rx" in [kv.key for kv in (await store.range("")).kvs]
    with pytest.raises(InvalidRequest):
        await store.range("/r/", after="/elsewhere")


async def test_keys_only_ranges_leave_the_values_out(store: Store) -> None:
    for name in ("b", "a", "c"):
        await store.put(f"/k/{name}", b"x" * 1000)
    found = await store.range("/k/", keys_only=True, limit=2)
    assert [(kv.key, kv.value) for kv in found.kvs] == [(b"/k/a", b""), (b"/k/b", b"")]
    assert found.more
    assert all(kv.mod_revision > 0 for kv in found.kvs)
    listed = await list_prefix(store, b"/k/", page_size=2, keys_only=True)
    assert [(kv.key, kv.value) for kv in listed.kvs] == [
        (b"/k/a", b""),
        (b"/k/b", b""),
        (b"/k/c", b""),
    ]
    assert (await store.get("/k/a")) is not None  # untouched


async def test_range_at_a_past_revision_and_compaction(store: Store) -> None:
    r1 = await store.put("/p/a", b"1")
    r2 = await store.put("/p/a", b"2")
    r3 = await store.put("/p/b", b"1")
    r4 = (await store.delete("/p/a")).revision

    def values(kvs: tuple[KeyValue, ...]) -> list[tuple[bytes, bytes]]:
        return [(kv.key, kv.value) for kv in kvs]

    assert values((await store.range("/p/", revision=r1)).kvs) == [(b"/p/a", b"1")]
    at_r3 = await store.range("/p/", revision=r3)
    assert at_r3.revision == r3
    assert values(at_r3.kvs) == [(b"/p/a", b"2"), (b"/p/b", b"1")]
    assert values((await store.range("/p/")).kvs) == [(b"/p/b", b"1")]
    with pytest.raises(InvalidRequest):
        await store.range("/p/", revision=r4 + 100)

    await store.compact(r3)
    with pytest.raises(Compacted):
        await store.range("/p/", revision=r2)
    assert values((await store.range("/p/", revision=r3)).kvs) == [(b"/p/a", b"2"), (b"/p/b", b"1")]
    with pytest.raises(Compacted):
        await store.compact(r3)
    with pytest.raises(InvalidRequest):
        await store.compact(r4 + 100)


async def test_delete_prefix_removes_every_key_at_one_revision(store: Store) -> None:
    for name in ("a", "b", "c"):
        await store.put(f"/d/{name}", b"x")
    keep = await store.put("/dd", b"keep")
    result = await store.delete_prefix("/d/")
    assert result == DeleteResult(3, keep + 1)
    assert (await store.range("/d/")).kvs == ()
    assert await store.get("/dd") is not None


async def test_put_if_creates_and_swaps_on_mod_revision(store: Store) -> None:
    created = await store.put_if("/cas/k", b"1", mod_revision=0)
    with pytest.raises(Conflict) as exists:
        await store.put_if("/cas/k", b"x", mod_revision=0)
    assert exists.value.current is not None
    assert (exists.value.current.value, exists.value.current.mod_revision) == (b"1", created)

    swapped = await store.put_if("/cas/k", b"2", mod_revision=created)
    with pytest.raises(Conflict) as stale:
        await store.put_if("/cas/k", b"3", mod_revision=created)
    assert stale.value.expected_mod_revision == created
    assert stale.value.current is not None
    assert stale.value.current.mod_revision == swapped

    with pytest.raises(Conflict):
        await store.delete_if("/cas/k", mod_revision=created)
    assert (await store.get("/cas/k")) is not None
    await store.delete_if("/cas/k", mod_revision=swapped)
    assert await store.get("/cas/k") is None

    with pytest.raises(Conflict) as missing:
        await store.put_if("/cas/k", b"4", mod_revision=swapped)
    assert missing.value.current is None


async def test_concurrent_creates_have_exactly_one_winner(store: Store) -> None:
    async def create(n: int) -> bool:
        try:
            await store.put_if("/cas/race", str(n).encode(), mod_revision=0)
        except Conflict:
            return False
        return True

    outcomes = await asyncio.gather(*(create(n) for n in range(10)))
    assert outcomes.count(True) == 1
    winner = await store.get("/cas/race")
    assert winner is not None
    assert winner.value == str(outcomes.index(True)).encode()


async def test_a_transaction_applies_one_branch_at_one_revision(store: Store) -> None:
    base = await store.put("/t/a", b"1")
    await store.put("/t/c", b"doomed")
    result = await store.commit(
        Txn()
        .when_mod_revision("/t/a", "==", base)
        .when_missing("/t/b")
        .then_put("/t/a", b"2")
        .then_put("/t/b", b"2")
        .then_delete("/t/c")
        .else_put("/t/else", b"1")
    )
    assert result.succeeded
    a, b = await store.get("/t/a"), await store.get("/t/b")
    assert a is not None
    assert b is not None
    assert a.mod_revision == b.mod_revision == result.revision
    assert await store.get("/t/c") is None
    assert await store.get("/t/else") is None

    failed = await store.commit(
        Txn()
        .when_value("/t/a", "==", b"not this")
        .then_put("/t/a", b"3")
        .then_put("/t/z", b"3")
        .else_put("/t/else", b"1")
    )
    assert not failed.succeeded
    assert failed.revision == result.revision + 1
    assert (await store.get("/t/a")) == a
    assert await store.get("/t/z") is None
    assert await store.get("/t/else") is not None


async def test_a_failing_transaction_writes_nothing(store: Store) -> None:
    before = (await store.range("/t/")).revision
    with pytest.raises(InvalidRequest):
        await store.commit(Txn().then_put("/t/x", b"1").then_put("/t/x", b"2"))
    with pytest.raises(InvalidRequest):
        await store.commit(Txn().then_put("/t/x", b"1").then_delete_prefix("/t/"))

    lease = await store.grant(5)
    await lease.revoke()
    with pytest.raises(LeaseExpired):
        await store.commit(Txn().then_put("/t/y", b"1").then_put("/t/x", b"1", lease=lease))
    assert (await store.range("/t/")).kvs == ()
    assert (await store.range("/t/")).revision == before


@pytest.mark.parametrize(
    ("build", "holds"),
    [
        (lambda t, r1, r2: t.when_version("/c/k", "==", 2), True),
        (lambda t, r1, r2: t.when_version("/c/k", ">", 2), False),
        (lambda t, r1, r2: t.when_create_revision("/c/k", "==", r1), True),
        (lambda t, r1, r2: t.when_mod_revision("/c/k", "<", r2), False),
        (lambda t, r1, r2: t.when_mod_revision("/c/k", ">", r1), True),
        (lambda t, r1, r2: t.when_value("/c/k", "==", b"v2"), True),
        (lambda t, r1, r2: t.when_value("/c/k", "!=", b"v2"), False),
        (lambda t, r1, r2: t.when_value("/c/k", "<", b"v3"), True),
        (lambda t, r1, r2: t.when_value("/c/missing", "!=", b"x"), False),
        (lambda t, r1, r2: t.when_exists("/c/k"), True),
        (lambda t, r1, r2: t.when_missing("/c/k"), False),
        (lambda t, r1, r2: t.when_exists("/c/missing"), False),
        (lambda t, r1, r2: t.when_missing("/c/missing"), True),
        (lambda t, r1, r2: t.when_mod_revision("/c/missing", "==", 0), True),
    ],
)
async def test_transaction_compares(store: Store, build: object, holds: bool) -> None:
    r1 = await store.put("/c/k", b"v1")
    r2 = await store.put("/c/k", b"v2")
    assert callable(build)
    result = await store.commit(build(Txn(), r1, r2))
    assert result.succeeded is holds
    assert result.revision == r2, "empty branches write nothing"


async def test_calls_to_a_frozen_server_hit_their_deadline(backend: StoreServer) -> None:
    client = await backend.open(call_timeout=0.3)
    await client.put("/deadline/k", b"v")
    backend.freeze()
    try:
        started = time.monotonic()
        with pytest.raises(StoreTimeout):
            await client.get("/deadline/k")
        assert 0.25 <= time.monotonic() - started < 1.5
        with pytest.raises(StoreTimeout):
            await client.put("/deadline/k", b"w")
    finally:
        backend.thaw()
    assert await client.get("/deadline/k") is not None


async def test_calls_fail_fast_while_down_and_recover(backend: StoreServer, store: Store) -> None:
    await store.put("/down/k", b"v")
    await backend.kill()
    try:
        with pytest.raises(StoreUnavailable):
            await store.get("/down/k")
    finally:
        await backend.start()

    async def readable() -> KeyValue | None:
        return await store.get("/down/k")

    kv = await wait_for(readable, timeout=10, message="reconnect")
    assert kv is not None
    assert kv.value == b"v"


async def test_a_closed_store_refuses_calls(backend: StoreServer) -> None:
    client = await backend.open()
    await client.close()
    with pytest.raises(StoreClosed):
        await client.get("/k")
    await client.close()  # idempotent
