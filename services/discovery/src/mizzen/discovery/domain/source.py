"""The contract of a declarative registry source (ServiceEntry/WorkloadEntry now, Kubernetes
later): it watches something and publishes the complete registry content it wants; discovery's
reconciler writes the difference to etcd (see :mod:`mizzen.discovery.reconciler`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mizzen.registry import Endpoint, Service


@dataclass(frozen=True, slots=True)
class DesiredState:
    """Everything one source wants in the registry: services and endpoints.

    Each value's ``source`` must be one of the source's :attr:`Source.owns`, so that the
    reconciler recognises what it wrote (and deletes it once it is no longer desired).
    """

    services: tuple[Service, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()


Publish = Callable[[DesiredState], None]
"""Hands the reconciler a source's new desired state; never blocks (the latest one wins)."""


class Source(Protocol):
    """A declarative source of registry values.

    :meth:`run` watches the source's input and calls ``publish`` with the *complete* desired
    state each time it changes, but only once its input is fully read (publishing a partial
    listing would delete what is missing from it). It runs until cancelled; raising ends the
    reconciliation round, which the reconciler starts again after a pause. A source is run by
    one elected replica at a time, and may be started again after it was cancelled.
    """

    @property
    def name(self) -> str:
        """The source's name in logs and metrics (``serviceentry``)."""
        ...

    @property
    def owns(self) -> frozenset[str]:
        """The registry ``source`` values it writes (``{"serviceentry", "workloadentry"}``)."""
        ...

    async def run(self, publish: Publish) -> None:
        """Watch the input and publish every new desired state; return only when cancelled."""
        ...
