"""Debouncing bursts of changes into pushes, as a free function over injected time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class ChangeSignal:
    """Set by producers on every change; consumed by :func:`debounce`.

    ``notify`` is cheap and may be called from any task of the loop at any rate.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Record that something changed."""
        self._event.set()

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait for a change (up to ``timeout`` seconds); consume it; return whether one came."""
        if timeout is not None and timeout <= 0:
            changed = self._event.is_set()
        else:
            try:
                async with asyncio.timeout(timeout):
                    await self._event.wait()
                changed = True
            except TimeoutError:
                changed = False
        self._event.clear()
        return changed


async def debounce(
    changes: ChangeSignal,
    push: Callable[[], Awaitable[None]],
    *,
    quiet: float,
    max_delay: float,
    idle: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Call ``push`` once per burst of changes, forever.

    A burst ends when no change came for ``quiet`` seconds, or ``max_delay`` seconds after
    its first change, whichever is first (so a steady trickle of changes still gets pushed).
    Changes during a push start the next burst. Exceptions from ``push`` propagate.

    With ``idle``, a change that comes after no push for ``idle`` seconds is pushed at once,
    without waiting to be quiet: on a mesh at rest a change usually comes alone (one
    ``mizzen apply`` is one transaction, however many documents it holds), and should not
    wait for company. Changes that follow it while it is pushed form the next burst, which
    is debounced as above.
    """
    last_push = float("-inf")
    while True:
        await changes.wait()
        first = last = clock()
        if idle is None or first - last_push < idle:
            while True:
                deadline = min(last + quiet, first + max_delay)
                remaining = deadline - clock()
                if remaining <= 0 or not await changes.wait(remaining):
                    break
                last = clock()
        await push()
        last_push = clock()
