"""Printing resources as a table, YAML or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import yaml

from mizzen.protos.config.v1 import config_pb2 as pb

FORMATS = ("table", "yaml", "json")


def document(resource: pb.Resource) -> dict[str, Any]:
    """The resource's whole document as plain data."""
    data: dict[str, Any] = json.loads(resource.document)
    return data


def age(created: str, now: datetime | None = None) -> str:
    """Kubernetes-style age (``45s``, ``12m``, ``3h``, ``9d``) of an RFC 3339 timestamp."""
    if not created:
        return "<unknown>"
    then = datetime.fromisoformat(created.replace("Z", "+00:00"))
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def _hosts(spec: dict[str, Any]) -> str:
    if "hosts" in spec:
        return ",".join(str(h) for h in spec["hosts"])
    if "host" in spec:
        return str(spec["host"])
    return ""


def table(rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, separated by three spaces (as kubectl)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def render(resources: Sequence[pb.Resource], fmt: str, *, all_namespaces: bool) -> str:
    """Resources in ``fmt`` (one of :data:`FORMATS`); YAML is multi-document."""
    documents = [document(r) for r in resources]
    if fmt == "json":
        if len(documents) == 1:
            return json.dumps(documents[0], indent=2)
        return json.dumps({"apiVersion": "v1", "kind": "List", "items": documents}, indent=2)
    if fmt == "yaml":
        return "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in documents).rstrip()
    header = (["NAMESPACE"] if all_namespaces else []) + ["KIND", "NAME", "HOSTS",
                                                           "GENERATION", "AGE"]  # fmt: skip
    rows = [header]
    for resource, data in zip(resources, documents, strict=True):
        metadata = data.get("metadata", {})
        rows.append(
            ([resource.namespace] if all_namespaces else [])
            + [resource.kind, resource.name, _hosts(data.get("spec", {})),
               str(resource.generation), age(metadata.get("creationTimestamp", ""))]
        )  # fmt: skip
    return table(rows)
