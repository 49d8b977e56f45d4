"""Exponential backoff with jitter, as a value: the caller sleeps, this only computes."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Backoff", "backoff_delay"]


def backoff_delay(
    attempt: int,
    *,
    base: float,
    maximum: float,
    jitter: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """The delay before retry ``attempt`` (0 for the first): ``base`` doubled per attempt up
    to ``maximum``, times a factor in ``[1 - jitter, 1]`` drawn with ``rand`` (in ``[0, 1)``)."""
    delay = min(maximum, base * 2.0 ** min(attempt, 62))  # no float overflow on long outages
    return delay * (1.0 - jitter * rand())


@dataclass(slots=True)
class Backoff:
    """Delays that double from ``base`` up to ``maximum``, each scaled by a random factor in
    ``[1 - jitter, 1]`` (so that many agents restarting at once spread out).

    ``next_delay()`` returns the next delay and advances; ``reset()`` starts over (call it
    after a success). ``rand`` is injectable for tests. Not shared between tasks.
    """

    base: float = 0.1
    maximum: float = 5.0
    jitter: float = 0.2
    rand: Callable[[], float] = field(default=random.random)
    _attempt: int = 0

    def next_delay(self) -> float:
        """The delay before the next attempt."""
        delay = backoff_delay(self._attempt, base=self.base, maximum=self.maximum,
                              jitter=self.jitter, rand=self.rand)  # fmt: skip
        self._attempt = min(self._attempt + 1, 62)
        return delay

    def reset(self) -> None:
        """Start over from ``base``."""
        self._attempt = 0
