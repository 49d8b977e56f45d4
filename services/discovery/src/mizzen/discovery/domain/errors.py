"""Errors of discovery's domain.

::

    DiscoveryError              base of everything discovery's domain raises
    ├── InvalidRegistration     a workload failed validation; ``violations`` names every bad
    │                           field (path and what would be valid); nothing was stored
    ├── OutOfOrder              a registration stream broke the protocol (its first message is
    │                           not a workload, or a second workload came)
    └── LeadershipLost          this replica stopped leading the reconciliation of declarative
                                sources (its election key or lease is gone)

Store failures are :class:`mizzen.store.StoreError` and registry write failures
:class:`mizzen.registry.RegistryError`; the API layer maps all of them to gRPC status codes in
one place (:mod:`mizzen.discovery.api.errors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class DiscoveryError(Exception):
    """Base of discovery's domain errors."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One invalid field: its path in the request (``workload.services[0].ports[1].number``)
    and what is wrong with it, naming what would be valid."""

    field: str
    description: str

    def __str__(self) -> str:
        return f"{self.field}: {self.description}"


class InvalidRegistration(DiscoveryError):
    """The workload cannot be registered; ``violations`` lists every problem found."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = tuple(violations)
        super().__init__("invalid workload: " + "; ".join(str(v) for v in self.violations))


class OutOfOrder(DiscoveryError):
    """A registration stream's message came where the protocol does not allow it."""


class LeadershipLost(DiscoveryError):
    """The election that makes this replica the one reconciling declarative sources was lost."""
