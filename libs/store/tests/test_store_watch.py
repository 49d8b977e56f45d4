"""The watch contract on both implementations: order, restarts, compaction, cancellation."""

from __future__ import annotations

import asyncio

import pytest

from mizzen.store import (
    Conflict,
    Event,
    EventType,
    KeyValue,
    Reset,
    Store,
    StoreClosed,
    StoreUnavailable,
    Txn,
    Watch,
    WatchItem,
    apply_to_view,
)
from mizzen.store.testing import StoreServer
from mizzen.testing import wait_for


async def take(watch: Watch, count: int, *, timeout: float = 5.0) -> list[WatchItem]:
    """The next ``count`` items of ``watch``, failing after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        return [await anext(watch) for _ in range(count)]


def event(item: WatchItem) -> Event:
    assert isinstance(item, Event), f"expected an event, got {item!r}"
    return item


async def test_puts_and_deletes_arrive_in_order_with_previous_values(store: Store) -> None:
    start = (await store.range("/w/")).revision + 1
    async with store.watch("/w/", start_revision=start) as watch:
        r1 = await store.put("/w/a", b"1")
        r2 = await store.put("/w/a", b"2")
        r3 = (await store.delete("/w/a")).revision
        await store.put("/wx", b"outside the prefix")
        r4 = (await store.commit(Txn().then_put("/w/c", b"c").then_put("/w/b", b"b"))).revision
        items = [event(item) for item in await take(watch, 5)]

    assert [(e.type, e.kv.key, e.revision) for e in items] == [
        (EventType.PUT, b"/w/a", r1),
        (EventType.PUT, b"/w/a", r2),
        (EventType.DELETE, b"/w/a", r3),
        (EventType.PUT, b"/w/c", r4),
        (EventType.PUT, b"/w/b", r4),
    ]
    assert items[0].prev_kv is None
    assert items[1].prev_kv is not None
    assert items[1].prev_kv.value == b"1"
    assert items[2].prev_kv is not None
    assert items[2].prev_kv.value == b"2"
    assert items[2].kv.value == b""
    assert items[1].kv == KeyValue(b"/w/a", b"2", r1, r2, 2, 0)


async def test_a_watch_replays_history_from_its_start_revision(store: Store) -> None:
    first = await store.put("/h/a", b"1")
    await store.put("/h/b", b"2")
    await store.delete_prefix("/h/")
    async with store.watch("/h/", start_revision=first) as watch:
        items = [event(item) for item in await take(watch, 4)]
    assert [(e.type, e.kv.key) for e in items] == [
        (EventType.PUT, b"/h/a"),
        (EventType.PUT, b"/h/b"),
        (EventType.DELETE, b"/h/a"),
        (EventType.DELETE, b"/h/b"),
    ]
    assert items[2].revision == items[3].revision, "one delete_prefix, one revision"


async def test_a_watch_without_start_revision_starts_when_first_iterated(store: Store) -> None:
    await store.put("/n/old", b"before")
    async with store.watch("/n/") as watch:
        first = asyncio.ensure_future(anext(watch))
        await wait_for(lambda: watch.next_revision is not None, message="watch opened")
        revision = await store.put("/n/new", b"after")
        item = event(await asyncio.wait_for(first, 5))
    assert (item.kv.key, item.revision) == (b"/n/new", revision)


async def test_a_thousand_writes_across_kill_9_are_seen_once_in_order(
    backend: StoreServer,
) -> None:
    writer = await backend.open()
    reader = await backend.open()
    total = 1000
    start = (await reader.range("/k9/")).revision + 1
    seen: list[WatchItem] = []
    written = 0
    failures = 0

    async def watch_all() -> None:
        async with reader.watch("/k9/", start_revision=start) as watch:
            async for item in watch:
                seen.append(item)
                if len(seen) == total:
                    return

    async def write_all() -> None:
        nonlocal written, failures
        for n in range(total):
            key = f"/k9/{n:04d}"
            while True:
                try:
                    # Create-only, so a retry of a write that was applied before the
                    # connection broke cannot write it twice.
                    await writer.put_if(key, str(n).encode(), mod_revision=0)
                except Conflict:
                    pass  # applied by the attempt whose answer was lost
                except StoreUnavailable:
                    failures += 1
                    await asyncio.sleep(0.01)  # retry pacing while etcd is down
                    continue
                break
            written = n + 1

    watcher = asyncio.ensure_future(watch_all())
    producer = asyncio.ensure_future(write_all())
    try:
        await wait_for(lambda: written >= total // 3, timeout=20, message="a third written")
        await backend.kill()
        await wait_for(lambda: failures > 0, timeout=10, message="the writer hit the outage")
        await backend.start()
        await asyncio.wait_for(producer, 30)
        await asyncio.wait_for(watcher, 30)
    finally:
        producer.cancel()
        watcher.cancel()

    events = [event(item) for item in seen]
    assert [e.kv.key for e in events] == [f"/k9/{n:04d}".encode() for n in range(total)]
    assert all(e.type is EventType.PUT and e.kv.version == 1 for e in events)
    revisions = [e.revision for e in events]
    assert revisions == sorted(set(revisions)), "each once, in revision order"


async def test_a_watch_resumes_after_compaction_with_a_reset(
    backend: StoreServer, store: Store
) -> None:
    await store.put("/c/keep", b"1")
    await store.put("/c/gone", b"1")
    start = (await store.range("/c/")).revision + 1
    view: dict[bytes, KeyValue] = {kv.key: kv for kv in (await store.range("/c/")).kvs}
    watcher_client = await backend.open()
    async with watcher_client.watch("/c/", start_revision=start) as watch:
        await store.put("/c/keep", b"2")
        for item in await take(watch, 1):
            apply_to_view(view, item)

        # The consumer is behind and its connection breaks; meanwhile the store moves on and
        # the history it needs is compacted away.
        await backend.kill()
        await backend.start()
        await wait_for(lambda: store.get("/c/keep"), timeout=10, message="store back")
        await store.delete("/c/gone")
        await store.put("/c/new", b"1")
        head = await store.put("/c/keep", b"3")
        await store.compact(head)

        reset = (await take(watch, 1, timeout=10))[0]
        assert isinstance(reset, Reset)
        assert reset.revision >= head
        apply_to_view(view, reset)
        assert view == {kv.key: kv for kv in (await store.range("/c/")).kvs}

        after = await store.put("/c/later", b"1")
        later = event((await take(watch, 1))[0])
        assert (later.kv.key, later.revision) == (b"/c/later", after)


async def test_a_watch_from_before_the_compaction_point_resets(store: Store) -> None:
    first = await store.put("/cp/a", b"1")
    await store.put("/cp/b", b"1")
    await store.delete("/cp/a")
    head = await store.put("/cp/b", b"2")
    await store.compact(head)
    async with store.watch("/cp/", start_revision=first) as watch:
        reset = (await take(watch, 1))[0]
        assert isinstance(reset, Reset)
        assert [(kv.key, kv.value) for kv in reset.kvs] == [(b"/cp/b", b"2")]
        assert reset.revision == head
        nxt = await store.put("/cp/c", b"1")
        assert event((await take(watch, 1))[0]).revision == nxt


async def test_resuming_exactly_at_the_compaction_point_resets(store: Store) -> None:
    # etcd drops a deletion *at* the compaction revision from its history yet lets a watch
    # start there; the watch must not trust that history.
    await store.put("/cz/a", b"1")
    start = (await store.range("/cz/")).revision + 1
    deleted_at = (await store.delete("/cz/a")).revision
    assert deleted_at == start
    await store.compact(deleted_at)
    async with store.watch("/cz/", start_revision=start) as watch:
        item = (await take(watch, 1))[0]
    assert isinstance(item, Reset)
    assert item.kvs == ()


async def test_closing_a_watch_from_another_task_ends_its_iteration(store: Store) -> None:
    watch = store.watch("/close/")
    consumed: list[WatchItem] = []

    async def consume() -> None:
        async for item in watch:
            consumed.append(item)

    consumer = asyncio.ensure_future(consume())
    await wait_for(lambda: watch.next_revision is not None, message="watch opened")
    await watch.aclose()
    await asyncio.wait_for(consumer, 5)
    assert consumed == []


async def test_a_cancelled_consumer_loses_nothing(store: Store) -> None:
    start = (await store.range("/cc/")).revision + 1
    async with store.watch("/cc/", start_revision=start) as watch:
        waiting = asyncio.ensure_future(anext(watch))
        await wait_for(lambda: watch.next_revision is not None, message="watch opened")
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        revision = await store.put("/cc/a", b"1")
        assert event((await take(watch, 1))[0]).revision == revision


async def test_closing_the_store_ends_its_watches(backend: StoreServer) -> None:
    client = await backend.open()
    watch = client.watch("/sc/")
    pending = asyncio.ensure_future(anext(watch))
    await wait_for(lambda: watch.next_revision is not None, message="watch opened")
    await client.close()
    with pytest.raises(StoreClosed):
        await asyncio.wait_for(pending, 5)
