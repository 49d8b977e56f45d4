"""Benchmark the store: puts/s and put-to-watch latency, on etcd and in memory.

Run: ``.venv/bin/python bench/store.py [--fast] [--sequential N] [--concurrent N]``

Starts its own etcd (by default with fsync and etcd's default raft timings, as in
production; ``--fast`` uses the test settings: no fsync, 10 ms heartbeats) in a temporary
directory. For each store, writes 1 KB values under a fresh prefix, first one put at a time,
then with 64 puts in flight, while one watcher on the prefix records when it sees each key.

* puts/s: completed puts divided by the time from the first put's start to the last
  put's answer.
* watch latency: from the moment ``put`` was called to the moment the watcher in the same
  process received the event (so it includes the put's own round trip).

Bounded: each phase stops issuing puts after ``--max-seconds`` even if its count is not
reached, and waits at most 10 s more for the watcher.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from mizzen.launcher import EtcdProcess
from mizzen.store import EtcdStore, Event, MemoryStore, Store

VALUE = os.urandom(1024)
IN_FLIGHT = 64


@dataclass(frozen=True)
class Result:
    """One phase's figures."""

    store: str
    mode: str
    puts: int
    puts_per_s: float
    p50_ms: float
    p99_ms: float


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of already sorted values (nearest rank)."""
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


WARMUP = "~warmup"  # sorts after the numbered keys; not counted


class _Follower:
    """Records when each key under a prefix arrives; signals warm-up and completion."""

    def __init__(self) -> None:
        self.seen: dict[bytes, float] = {}
        self.warm = asyncio.Event()
        self.complete = asyncio.Event()
        self.expected: int | None = None

    async def follow(self, store: Store, prefix: str, start_revision: int) -> None:
        async with store.watch(prefix, start_revision=start_revision) as watch:
            async for item in watch:
                if not isinstance(item, Event):
                    continue
                if item.kv.key.endswith(WARMUP.encode()):
                    self.warm.set()
                else:
                    self.seen[item.kv.key] = time.perf_counter()
                self.check()

    def check(self) -> None:
        if self.expected is not None and len(self.seen) >= self.expected:
            self.complete.set()


class InProcessWatcher:
    """Follows the prefix on the benchmarked store itself, in this event loop."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._follower = _Follower()
        self._task: asyncio.Task[None] | None = None

    async def start(self, prefix: str, start_revision: int) -> None:
        """Open the watch and return once it delivers (a warm-up key was seen)."""
        self._task = asyncio.ensure_future(
            self._follower.follow(self._store, prefix, start_revision)
        )
        await self._store.put(prefix + WARMUP, b"")
        await asyncio.wait_for(self._follower.warm.wait(), 10)

    async def finish(self, written: int) -> dict[bytes, float]:
        """Wait (≤ 10 s) until ``written`` keys were seen; the arrival times by key."""
        self._follower.expected = written
        self._follower.check()
        try:
            await asyncio.wait_for(self._follower.complete.wait(), 10)
        finally:
            if self._task is not None:
                self._task.cancel()
        return self._follower.seen


class ChildProcessWatcher:
    """Follows the prefix from another process with its own etcd client.

    ``time.perf_counter`` is CLOCK_MONOTONIC on Linux, shared by every process, so the
    child's arrival times compare with this process's send times.
    """

    def __init__(self, store: Store, endpoint: str) -> None:
        self._store = store
        self._endpoint = endpoint
        self._child: asyncio.subprocess.Process | None = None

    async def start(self, prefix: str, start_revision: int) -> None:
        """Start the child and return once its watch delivers (a warm-up key was seen)."""
        self._child = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--watch-child",
            self._endpoint,
            prefix,
            str(start_revision),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._child.stdout is not None
        await self._store.put(prefix + WARMUP, b"")
        line = await asyncio.wait_for(self._child.stdout.readline(), 30)
        if line.strip() != b"ready":
            raise RuntimeError(f"watch child failed to start: {line!r}")

    async def finish(self, written: int) -> dict[bytes, float]:
        """Tell the child how many keys to expect; its arrival times by key."""
        child = self._child
        assert child is not None
        try:
            out, _ = await asyncio.wait_for(child.communicate(f"{written}\n".encode()), 15)
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
        return {key.encode(): at for key, at in json.loads(out).items()}


async def watch_child(endpoint: str, prefix: str, start_revision: int) -> None:
    """The child side of :class:`ChildProcessWatcher`: report arrival times as JSON."""
    follower = _Follower()
    async with await EtcdStore.connect([endpoint]) as store:
        task = asyncio.ensure_future(follower.follow(store, prefix, start_revision))
        await asyncio.wait_for(follower.warm.wait(), 10)
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        follower.expected = int(await reader.readline())
        follower.check()
        await asyncio.wait_for(follower.complete.wait(), 10)
        task.cancel()
    print(json.dumps({key.decode(): at for key, at in follower.seen.items()}), flush=True)


async def run_phase(
    store: Store,
    *,
    watcher: InProcessWatcher | ChildProcessWatcher,
    name: str,
    mode: str,
    count: int,
    in_flight: int,
    max_seconds: float,
) -> Result:
    """Write ``count`` keys with ``in_flight`` concurrent writers while ``watcher`` follows."""
    prefix = f"/bench/{name.replace(' ', '-')}/{mode.replace(' ', '-')}/"
    start = (await store.range(prefix, limit=1)).revision + 1
    sent: dict[bytes, float] = {}
    written = 0
    await watcher.start(prefix, start)
    keys = iter(range(count))
    began = time.perf_counter()
    stop_at = began + max_seconds

    async def writer() -> None:
        nonlocal written
        for n in keys:
            if time.perf_counter() > stop_at:
                return
            key = f"{prefix}{n:07d}".encode()
            sent[key] = time.perf_counter()
            await store.put(key, VALUE)
            written += 1

    await asyncio.gather(*(writer() for _ in range(in_flight)))
    elapsed = time.perf_counter() - began
    seen = await watcher.finish(written)
    latencies = sorted((seen[key] - sent[key]) * 1000 for key in seen)
    return Result(
        name,
        mode,
        written,
        written / elapsed,
        statistics.median(latencies),
        percentile(latencies, 0.99),
    )


async def bench(
    store: Store,
    name: str,
    args: argparse.Namespace,
    watcher: Callable[[], InProcessWatcher | ChildProcessWatcher] | None = None,
) -> list[Result]:
    """Both phases on one store."""
    make = watcher or (lambda: InProcessWatcher(store))
    results = []
    for mode, count, in_flight in (
        ("sequential", args.sequential, 1),
        (f"{IN_FLIGHT} in flight", args.concurrent, IN_FLIGHT),
    ):
        results.append(
            await run_phase(
                store,
                watcher=make(),
                name=name,
                mode=mode,
                count=count,
                in_flight=in_flight,
                max_seconds=args.max_seconds,
            )
        )
    return results


async def main() -> None:
    """Parse arguments, run etcd and the phases, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="etcd test settings (no fsync)")
    parser.add_argument("--sequential", type=int, default=2000, help="puts, one at a time")
    parser.add_argument("--concurrent", type=int, default=20000, help="puts, 64 in flight")
    parser.add_argument("--max-seconds", type=float, default=15.0, help="cap per phase")
    parser.add_argument("--watch-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.watch_child:
        endpoint, prefix, start = args.watch_child
        await watch_child(endpoint, prefix, int(start))
        return

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="mizzen-bench-") as tmp:
        etcd = EtcdProcess(Path(tmp), fast=args.fast)
        await etcd.start()
        try:
            async with await EtcdStore.connect([etcd.endpoint]) as store:
                results += await bench(store, "etcd", args)
                results += await bench(
                    store, "etcd*", args, lambda: ChildProcessWatcher(store, etcd.endpoint)
                )
        finally:
            await etcd.stop()
    async with MemoryStore() as memory:
        results += await bench(memory, "memory", args)

    etcd_mode = "fast: no fsync, 10 ms heartbeat" if args.fast else "fsync on, default raft timings"
    python = sys.version.split()[0]
    print(f"store benchmark: 1 KB values, etcd ({etcd_mode}) on loopback, Python {python}")
    print(f"{'store':<8}{'mode':<14}{'puts':>7}{'puts/s':>10}{'watch p50':>12}{'watch p99':>12}")
    for r in results:
        print(
            f"{r.store:<8}{r.mode:<14}{r.puts:>7}{r.puts_per_s:>10.0f}"
            f"{r.p50_ms:>10.2f}ms{r.p99_ms:>10.2f}ms"
        )
    print("etcd*: the watcher runs in a separate process (its own client and event loop)")
    by_key = {(r.store, r.mode): r for r in results}
    for mode in ("sequential", f"{IN_FLIGHT} in flight"):
        etcd_r, memory_r = by_key[("etcd", mode)], by_key[("memory", mode)]
        print(
            f"memory/etcd, {mode}: puts/s x{memory_r.puts_per_s / etcd_r.puts_per_s:.1f}, "
            f"watch p50 x{etcd_r.p50_ms / memory_r.p50_ms:.1f} faster"
        )


if __name__ == "__main__":
    asyncio.run(main())
