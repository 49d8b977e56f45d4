"""Known workloads, and label selectors matched against them."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import NamedTuple

from mizzen.analysis.errors import InputError

__all__ = ["Workload", "WorkloadLike", "normalize_workloads", "selector_matches", "selector_text"]


class Workload(NamedTuple):
    """A workload known to the mesh: its namespace, its labels and the ports it serves."""

    namespace: str
    labels: Mapping[str, str]
    ports: Collection[int]


WorkloadLike = Workload | tuple[str, Mapping[str, str], Collection[int]]


def normalize_workloads(workloads: Iterable[WorkloadLike]) -> tuple[Workload, ...]:
    """Check each item is (namespace, labels, ports) and return them as `Workload`s.

    Raises `InputError` naming the first item that is not of that shape.
    """
    out: list[Workload] = []
    for index, item in enumerate(workloads):
        try:
            namespace, labels, ports = item
        except (TypeError, ValueError) as exc:
            raise InputError(f"workload {index}: expected (namespace, labels, ports)") from exc
        ok = (
            isinstance(namespace, str)
            and isinstance(labels, Mapping)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
            and not isinstance(ports, str | bytes)
            and all(isinstance(p, int) for p in ports)
        )
        if not ok:
            raise InputError(
                f"workload {index}: expected (namespace: str, labels: dict[str, str], "
                f"ports: list[int]), got {item!r}"
            )
        out.append(Workload(namespace, dict(labels), tuple(ports)))
    return tuple(out)


def selector_matches(selector: Mapping[str, str] | None, labels: Mapping[str, str]) -> bool:
    """True when every key/value of `selector` is among `labels` (an empty selector: all)."""
    return all(labels.get(key) == value for key, value in (selector or {}).items())


def selector_text(selector: Mapping[str, str] | None) -> str:
    """A selector as Kubernetes prints one: `app=reviews,version=v1` (keys sorted)."""
    return ",".join(f"{key}={value}" for key, value in sorted((selector or {}).items()))
