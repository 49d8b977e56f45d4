"""The shape every analyzer has, and the read-only view of the configuration it is given."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from mizzen.analysis.errors import AnalysisError
from mizzen.analysis.messages import Message, MessageType
from mizzen.analysis.workloads import Workload
from mizzen.api import Gateway, Resource
from mizzen.api.resource import age_order

__all__ = ["Analyzer", "Context", "Snapshot", "age_order"]

R = TypeVar("R", bound=Resource)


class Snapshot:
    """The configuration under analysis, indexed by kind; built once, never changed.

    `resources` must already be deduplicated and have their namespace filled in.
    """

    def __init__(
        self,
        resources: Iterable[Resource],
        workloads: tuple[Workload, ...] | None,
        root_namespace: str,
    ) -> None:
        by_kind: dict[str, list[Resource]] = {}
        for resource in resources:
            by_kind.setdefault(resource.kind, []).append(resource)
        self.by_kind = {
            kind: tuple(sorted(items, key=lambda r: (r.namespace, r.name)))
            for kind, items in by_kind.items()
        }
        self.workloads = workloads
        self.root_namespace = root_namespace
        self.gateways = {
            (g.namespace, g.name): g
            for g in self.by_kind.get("Gateway", ())
            if isinstance(g, Gateway)
        }


class Context:
    """What one analyzer may read: the kinds it declared, and workloads if it declared them.

    Reading an undeclared kind raises `AnalysisError` (a bug in the analyzer), so that an
    analyzer's declared inputs are always the whole of what it depends on.
    """

    def __init__(self, snapshot: Snapshot, analyzer: Analyzer) -> None:
        self._snapshot = snapshot
        self._analyzer = analyzer

    @property
    def root_namespace(self) -> str:
        """The mesh's root namespace: policies there apply to every namespace."""
        return self._snapshot.root_namespace

    def of(self, model: type[R]) -> tuple[R, ...]:
        """Every resource of `model`'s kind, sorted by namespace and name."""
        if model.KIND not in self._analyzer.inputs:
            raise AnalysisError(
                f"analyzer {self._analyzer.name} read {model.KIND}, which it does not declare"
            )
        return tuple(r for r in self._snapshot.by_kind.get(model.KIND, ()) if isinstance(r, model))

    def gateway(self, namespace: str, name: str) -> Gateway | None:
        """The Gateway `namespace/name`, or None."""
        if "Gateway" not in self._analyzer.inputs:
            raise AnalysisError(f"analyzer {self._analyzer.name} read Gateway undeclared")
        return self._snapshot.gateways.get((namespace, name))

    @property
    def workloads(self) -> tuple[Workload, ...]:
        """The known workloads (only for analyzers that declare `needs_workloads`)."""
        if not self._analyzer.needs_workloads or self._snapshot.workloads is None:
            raise AnalysisError(f"analyzer {self._analyzer.name} read workloads undeclared")
        return self._snapshot.workloads

    def report(self, message_type: MessageType, resource: Resource, path: str,
               *args: object) -> Message:  # fmt: skip
        """A message from this analyzer about `resource` at `path`."""
        return message_type.at(resource, path, self._analyzer.name, *args)


@dataclass(frozen=True, slots=True)
class Analyzer:
    """One cross-resource check, registered with what it reports and what it reads.

    Fields:
        name: `area.NameAnalyzer`, as istioctl names its analyzers.
        description: one sentence for `mizzen analyze --list-analyzers`.
        codes: every message code it may report.
        inputs: the resource kinds it reads (and nothing else).
        needs_workloads: it reads the known workloads; it is skipped when none are given.
        run: the check itself, a pure function of the context; it yields its messages.
    """

    name: str
    description: str
    codes: tuple[str, ...]
    inputs: tuple[str, ...]
    needs_workloads: bool
    run: Callable[[Context], Iterator[Message]]
