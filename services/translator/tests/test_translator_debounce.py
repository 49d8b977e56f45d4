"""debounce(): bursts become one push; a lone change on a quiet system goes at once."""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager

from mizzen.testing import in_background, wait_for
from mizzen.translator.domain.debounce import ChangeSignal, debounce


class Pushes:
    def __init__(self) -> None:
        self.at: list[float] = []

    async def __call__(self) -> None:
        self.at.append(time.monotonic())


def debouncing(
    signal: ChangeSignal, pushes: Pushes, **options: float | None
) -> AbstractAsyncContextManager[object]:
    return in_background(debounce(signal, pushes, **options))  # type: ignore[arg-type]


async def test_a_burst_is_pushed_once_after_it_went_quiet() -> None:
    signal, pushes = ChangeSignal(), Pushes()
    async with debouncing(signal, pushes, quiet=0.2, max_delay=5.0):
        started = time.monotonic()
        for _ in range(5):
            last = time.monotonic()
            signal.notify()
            await asyncio.sleep(0.05)  # the burst's pace, not a synchronization
        await wait_for(lambda: pushes.at, timeout=5, message="a push")
        assert len(pushes.at) == 1
        assert pushes.at[0] - last >= 0.2 * 0.9, "waited to be quiet"
        assert pushes.at[0] - started < 5.0


async def test_a_steady_trickle_is_pushed_at_the_maximum_delay() -> None:
    signal, pushes = ChangeSignal(), Pushes()
    async with debouncing(signal, pushes, quiet=0.2, max_delay=0.5):
        started = time.monotonic()
        while not pushes.at and time.monotonic() - started < 5:
            signal.notify()
            await asyncio.sleep(0.05)  # never quiet for 0.2 s
        assert pushes.at, "pushed while changes kept coming"
        assert 0.5 * 0.9 <= pushes.at[0] - started < 0.5 + 0.4


async def test_a_lone_change_after_an_idle_time_is_pushed_at_once_then_bursts_wait() -> None:
    signal, pushes = ChangeSignal(), Pushes()
    async with debouncing(signal, pushes, quiet=0.5, max_delay=5.0, idle=1.0):
        notified = time.monotonic()
        signal.notify()
        await wait_for(lambda: pushes.at, timeout=5, message="the first push")
        assert pushes.at[0] - notified < 0.25, "no quiet wait on an idle system"

        # Right after a push the system is not idle: the next change waits to be quiet.
        notified = time.monotonic()
        signal.notify()
        await wait_for(lambda: len(pushes.at) == 2, timeout=5, message="the second push")
        assert pushes.at[1] - notified >= 0.5 * 0.9
