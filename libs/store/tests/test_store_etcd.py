"""What only the etcd implementation has: real processes dying, URLs, endpoints, keepalive."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mizzen.launcher import EtcdProcess, PortAllocator
from mizzen.store import (
    Compacted,
    EtcdSettings,
    EtcdStore,
    InvalidRequest,
    MemoryStore,
    StoreUnavailable,
    open_store,
)
from mizzen.testing import wait_for

HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from mizzen.store import EtcdStore

    async def main() -> None:
        store = await EtcdStore.connect([sys.argv[1]])
        lease = await store.grant(1)
        await store.put(sys.argv[2], b"held", lease=lease)
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


async def test_a_holder_process_killed_with_sigkill_frees_its_key(etcd: EtcdProcess) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        etcd.endpoint,
        "/etcd/held",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        line = await asyncio.wait_for(holder.stdout.readline(), 20)
        assert line.strip() == b"ready"
        async with await open_store(f"etcd://{etcd.endpoint}") as store:
            kv = await store.get("/etcd/held")
            assert kv is not None
            assert kv.lease != 0
            os.kill(holder.pid, signal.SIGKILL)
            killed = time.monotonic()

            async def freed() -> bool:
                return await store.get("/etcd/held") is None

            await wait_for(freed, timeout=5, message="the key to expire")
            # TTL 1 s, plus etcd's 500 ms expiry check and scheduling slack.
            assert time.monotonic() - killed <= 1.8
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()


async def test_open_store_understands_its_urls(etcd: EtcdProcess) -> None:
    memory = await open_store("memory://")
    assert isinstance(memory, MemoryStore)
    await memory.close()

    async with await open_store(f"etcd://{etcd.endpoint}/") as store:
        assert isinstance(store, EtcdStore)
        await store.put("/url", b"1")

    one, two = await open_store("memory://shared"), await open_store("memory://shared")
    await one.put("/shared", b"1")
    seen = await two.get("/shared")
    assert seen is not None
    assert seen.value == b"1"
    assert await (await open_store("memory://other")).get("/shared") is None

    for bad in ("", "etcd://", "etcd://nohost", "etcd://h:99999", "redis://h:1"):
        with pytest.raises(InvalidRequest):
            await open_store(bad)


async def test_several_endpoints_fail_over_to_a_live_member(
    etcd: EtcdProcess, ports: PortAllocator
) -> None:
    dead = f"127.0.0.1:{ports.take()}"
    async with await open_store(f"etcd://{dead},{etcd.endpoint}") as store:
        revision = await store.put("/failover", b"1")
        kv = await store.get("/failover")
        assert kv is not None
        assert kv.mod_revision == revision


async def test_an_etcd_with_a_history_retention_compacts_old_revisions(
    tmp_path: Path, ports: PortAllocator
) -> None:
    etcd = EtcdProcess(tmp_path / "etcd", ports=ports, history_retention="1s")
    await etcd.start()
    try:
        async with await open_store(f"etcd://{etcd.endpoint}") as store:
            first = await store.put("/history", b"1")
            for value in range(2, 5):
                await store.put("/history", str(value).encode())

            async def compacted() -> bool:
                await store.put("/tick", b"")  # periodic compaction needs revisions to move on
                try:
                    await store.range("/history", revision=first)
                except Compacted:
                    return True
                return False

            await wait_for(compacted, timeout=20, message="revisions compacted")
            kv = await store.get("/history")
            assert kv is not None
            assert kv.value == b"4", "compaction drops history, not data"
    finally:
        await etcd.stop()


async def test_only_a_dead_endpoint_is_unavailable(ports: PortAllocator) -> None:
    settings = EtcdSettings(call_timeout=1.0)
    async with await EtcdStore.connect([f"127.0.0.1:{ports.take()}"], settings) as store:
        with pytest.raises(StoreUnavailable):
            await store.get("/k")


async def test_keepalive_pings_notice_a_frozen_etcd_under_an_open_watch(
    etcd: EtcdProcess,
) -> None:
    # A watch has no deadline (it may rightly be silent for hours); only gRPC keepalive
    # pings can tell a silent etcd from a frozen one.
    settings = EtcdSettings(keepalive_time=5.0, keepalive_timeout=1.0)
    async with await EtcdStore.connect([etcd.endpoint], settings) as store:
        stream, _ = await store._open_watch(b"/frozen/", b"/frozen0", None)
        pid = etcd.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            frozen = time.monotonic()
            with pytest.raises(StoreUnavailable, match="ping"):
                await asyncio.wait_for(stream.read(), 10)
            assert time.monotonic() - frozen <= settings.keepalive_time + 2
        finally:
            os.kill(pid, signal.SIGCONT)
