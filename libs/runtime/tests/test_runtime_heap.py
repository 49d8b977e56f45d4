"""HeapSettler: settles only once idle, freezes survivors, still collects frozen garbage."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref

from mizzen.runtime import HeapSettler
from mizzen.testing import wait_for


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


async def test_the_heap_settles_only_after_the_idle_time() -> None:
    settler = HeapSettler(idle_seconds=0.2)
    try:
        started = time.monotonic()
        # Work keeps coming for 0.5 s: no settling meanwhile.
        while time.monotonic() - started < 0.5:
            settler.busy()
            assert settler.settled == 0
            await asyncio.sleep(0.02)
        await wait_for(lambda: settler.settled == 1, timeout=5, message="settled")
        assert time.monotonic() - started >= 0.5 + 0.2 * 0.9
        assert gc.get_freeze_count() > 0, "survivors are frozen"
    finally:
        settler.close()
        gc.unfreeze()


def test_garbage_among_frozen_objects_is_collected_at_the_next_settling() -> None:
    settler = HeapSettler()
    try:
        a, b = _Node(), _Node()
        a.other, b.other = b, a  # a cycle: only the cyclic collector frees it
        gone = weakref.ref(a)
        settler.settle()  # a and b are alive: frozen
        del a, b
        gc.collect()
        assert gone() is not None, "frozen: ordinary collections leave it"
        settler.settle()
        assert gone() is None
    finally:
        gc.unfreeze()
