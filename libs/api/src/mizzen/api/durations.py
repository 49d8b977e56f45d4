"""Durations as Istio's YAML writes them: Go duration strings ("1.5s", "100ms", "1h30m").

Protobuf's JSON form ("1.5s") is one case of Go's syntax.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = ["MILLISECOND", "check_duration", "parse_duration"]

MILLISECOND = 1_000_000  # nanoseconds
_UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": MILLISECOND,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_TERM = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_MAX_NANOS = 2**63 - 1
_HINT = 'a number and a unit (ns, us, ms, s, m, h), e.g. "100ms", "1.5s", "1h30m"'


def parse_duration(text: str) -> int | None:
    """Return the duration in nanoseconds, or None if `text` is not a Go duration."""
    sign = 1
    body = text
    if body and body[0] in "+-":
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if body == "0":
        return 0
    if not body:
        return None
    total = Decimal(0)
    pos = 0
    while pos < len(body):
        match = _TERM.match(body, pos)
        if match is None:
            return None
        try:
            total += Decimal(match.group(1)) * _UNITS[match.group(2)]
        except InvalidOperation:
            return None
        pos = match.end()
    if total > _MAX_NANOS:
        return None
    return sign * int(total)


def check_duration(text: str, *, minimum_ms: int | None = 1) -> str | None:
    """Check a duration; return None if valid, else what is wrong.

    With `minimum_ms` (the CRD's "greater than 1ms" by default) the value must be at
    least that long; Istio's webhook also refuses precision finer than a millisecond.
    """
    nanos = parse_duration(text)
    if nanos is None:
        return f"invalid duration {text!r}: use {_HINT}"
    if minimum_ms is not None:
        if nanos < minimum_ms * MILLISECOND:
            return f"duration {text!r} is too short: must be at least {minimum_ms}ms"
        if nanos % MILLISECOND:
            return f"duration {text!r} is finer than a millisecond; only ms precision is supported"
    return None
