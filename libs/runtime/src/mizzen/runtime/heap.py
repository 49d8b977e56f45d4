"""Keeping garbage-collection pauses out of the work a service does under load.

CPython's cyclic collector occasionally scans every tracked object of the oldest generation:
in a control-plane process holding a large mesh that is a pause of 100 ms or more, and it
falls wherever allocation happens to trigger it, i.e. in the middle of a translation round or
a push to a thousand proxies. :class:`HeapSettler` moves that work to quiet moments: once the
service has been idle for ``idle_seconds`` (no :meth:`~HeapSettler.busy` call), it collects
everything and *freezes* the survivors (:func:`gc.freeze`), so that the collections that run
during the next burst scan only what the burst allocated. Each settling unfreezes first, so
a frozen object that became cyclic garbage meanwhile is still collected then.

Settling also hands the memory a burst freed back to the operating system (glibc's
``malloc_trim``, where the C library has it): a push to a thousand proxies allocates and
frees hundreds of megabytes of response buffers, which glibc otherwise keeps for the
process, so its resident size would stay at the burst's peak.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import time
from collections.abc import Callable

import structlog

__all__ = ["HeapSettler"]

log = structlog.get_logger(__name__)


def _malloc_trim() -> Callable[[], object] | None:
    """glibc's ``malloc_trim(0)``, or ``None`` where the C library has no such function."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: trim(0)


class HeapSettler:
    """Collect and freeze the heap once the service is idle (see the module docstring).

    Call :meth:`busy` whenever work happens (from the event loop's thread); the settling runs
    in the loop ``idle_seconds`` after the last call. :meth:`close` cancels a pending one.
    """

    def __init__(self, idle_seconds: float = 1.0) -> None:
        self._idle_seconds = idle_seconds
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._trim = _malloc_trim()
        self.settled = 0
        """How many times the heap was settled."""

    def busy(self) -> None:
        """Work happened: settle ``idle_seconds`` from now, unless more work comes first."""
        self._deadline = time.monotonic() + self._idle_seconds
        if self._timer is None:
            # One timer at a time, re-armed on expiry while work keeps coming: a busy loop
            # calling this per request costs a float store, not a timer.
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._idle_seconds, self._expired)

    def _expired(self) -> None:
        remaining = self._deadline - time.monotonic()
        if remaining > 0:
            self._timer = asyncio.get_running_loop().call_later(remaining, self._expired)
            return
        self._timer = None
        self.settle()

    def settle(self) -> float:
        """Collect everything and freeze the survivors now; returns the seconds it took."""
        started = time.perf_counter()
        gc.unfreeze()
        collected = gc.collect()
        gc.freeze()
        if self._trim is not None:
            self._trim()
        elapsed = time.perf_counter() - started
        self.settled += 1
        log.debug("heap settled", collected=collected, frozen=gc.get_freeze_count(),
                  seconds=round(elapsed, 4))  # fmt: skip
        return elapsed

    def close(self) -> None:
        """Cancel a pending settling."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
