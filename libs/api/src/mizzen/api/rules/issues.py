"""The collector that rules report problems to."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Issue", "Issues"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem: the field path (`spec.http[0].timeout`) and what is wrong."""

    path: str
    message: str


@dataclass(slots=True)
class Issues:
    """An append-only list of problems found while checking one resource."""

    items: list[Issue] = field(default_factory=list)

    def add(self, path: str, message: str) -> None:
        """Record a problem at `path`."""
        self.items.append(Issue(path, message))

    def add_if(self, path: str, message: str | None) -> None:
        """Record `message` at `path` unless it is None (the `check_*` helpers' style)."""
        if message is not None:
            self.items.append(Issue(path, message))
