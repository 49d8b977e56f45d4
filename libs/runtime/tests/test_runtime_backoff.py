"""Backoff: one formula for every retry loop."""

from __future__ import annotations

from mizzen.runtime import Backoff, backoff_delay


def test_backoff_doubles_up_to_its_maximum_with_jitter() -> None:
    backoff = Backoff(base=0.5, maximum=3.0, jitter=0.5, rand=lambda: 1.0)
    assert [backoff.next_delay() for _ in range(5)] == [0.25, 0.5, 1.0, 1.5, 1.5]
    backoff.reset()
    assert backoff.next_delay() == 0.25
    exact = Backoff(base=0.5, maximum=3.0, jitter=0.5, rand=lambda: 0.0)
    assert [exact.next_delay() for _ in range(4)] == [0.5, 1.0, 2.0, 3.0]


def test_backoff_delay_is_the_same_formula() -> None:
    delays = [backoff_delay(n, base=0.5, maximum=3.0, jitter=0.5, rand=lambda: 1.0)
              for n in range(5)]  # fmt: skip
    assert delays == [0.25, 0.5, 1.0, 1.5, 1.5]
    assert backoff_delay(10_000, base=1.0, maximum=2.0, jitter=0.0) == 2.0
