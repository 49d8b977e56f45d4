"""Text to resources: `parse_documents`.

Reads YAML or JSON documents, picks each document's model by apiVersion and kind,
checks its shape (pydantic), then Istio's rules. Every problem found in every document
is collected; if there is any, one `ValidationError` carries them all.
"""

from __future__ import annotations

import difflib
from typing import Any

import pydantic
import structlog

from mizzen.api.documents import load_documents
from mizzen.api.errors import FieldError, ValidationError
from mizzen.api.field_paths import error_message, render_path
from mizzen.api.kinds import KINDS, KindInfo
from mizzen.api.resource import Resource
from mizzen.api.rules.registry import check_resource

__all__ = ["parse_document", "parse_documents"]

log = structlog.get_logger(__name__)

_BY_KIND = {info.kind: info for info in KINDS}


class _Context:
    """Where problems are reported: source, document index, and the document's identity."""

    def __init__(self, source: str, index: int, prefix: str, data: Any) -> None:
        self.source = source
        self.index = index
        self.prefix = prefix
        meta = data.get("metadata") if isinstance(data, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        self.kind = _text(data.get("kind")) if isinstance(data, dict) else ""
        self.name = _text(meta.get("name"))
        self.namespace = _text(meta.get("namespace"))
        self.errors: list[FieldError] = []

    def add(self, path: str, message: str) -> None:
        full = f"{self.prefix}{path}" if path else self.prefix.rstrip(".")
        self.errors.append(
            FieldError(self.source, self.index, self.kind, self.namespace, self.name, full, message)
        )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _identify(data: dict[str, Any], ctx: _Context) -> KindInfo | None:
    kind = data.get("kind")
    api_version = data.get("apiVersion")
    if not isinstance(api_version, str) or not api_version:
        ctx.add("apiVersion", "apiVersion is required (e.g. networking.istio.io/v1)")
    if not isinstance(kind, str) or not kind:
        ctx.add("kind", "kind is required (e.g. VirtualService)")
        return None
    info = _BY_KIND.get(kind)
    if info is None:
        close = difflib.get_close_matches(kind, list(_BY_KIND), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        ctx.add("kind", f"unknown kind {kind!r}; {hint}supported kinds: {', '.join(_BY_KIND)}")
        return None
    if not isinstance(api_version, str) or not api_version:
        return None
    if api_version not in info.api_versions:
        ctx.add(
            "apiVersion",
            f"apiVersion {api_version!r} is not served for {kind}: use one "
            f"of {', '.join(info.api_versions)}",
        )
        return None
    return info


def _parse_one(data: Any, ctx: _Context) -> Resource | None:
    if not isinstance(data, dict):
        ctx.add("", "a document must be an object with apiVersion, kind, metadata and spec")
        return None
    info = _identify(data, ctx)
    if info is None:
        return None
    try:
        resource = info.model.model_validate(data)
    except pydantic.ValidationError as exc:
        for error in exc.errors():
            path = render_path(info.model, error["loc"])
            ctx.add(path, error_message(info.model, error, path))
        return None
    for issue in check_resource(resource):
        ctx.add(issue.path, issue.message)
    return resource if not ctx.errors else None


def _parse_list(data: dict[str, Any], ctx: _Context, out: list[Resource]) -> None:
    items = data.get("items")
    if not isinstance(items, list):
        ctx.add("items", "a List needs items: a list of resources")
        return
    for i, item in enumerate(items):
        item_ctx = _Context(ctx.source, ctx.index, f"items[{i}].", item)
        if isinstance(item, dict) and item.get("kind") == "List":
            item_ctx.add("kind", "a List cannot contain another List")
        else:
            resource = _parse_one(item, item_ctx)
            if resource is not None:
                out.append(resource)
        ctx.errors.extend(item_ctx.errors)


def _parse(text: str, source: str) -> tuple[list[Resource], list[FieldError]]:
    resources: list[Resource] = []
    errors: list[FieldError] = []
    docs, problem = load_documents(text)
    for doc in docs:
        ctx = _Context(source, doc.index, "", doc.data)
        if isinstance(doc.data, dict) and doc.data.get("kind") == "List":
            _parse_list(doc.data, ctx, resources)
        else:
            resource = _parse_one(doc.data, ctx)
            if resource is not None:
                resources.append(resource)
        errors.extend(ctx.errors)
    if problem is not None:
        errors.append(FieldError(source, problem.index, "", "", "", "", problem.message))
    return resources, errors


def parse_documents(text: str, source: str) -> list[Resource]:
    """Parse every resource in `text` (multi-document YAML, JSON, `kind: List`).

    Returns the resources in document order. Raises `ValidationError` listing every
    problem in every document if any document is unreadable or invalid; never raises
    anything else, whatever `text` holds. `source` names the origin (a file path) in
    error messages.
    """
    try:
        resources, errors = _parse(text, source)
    except (RecursionError, MemoryError) as exc:
        raise ValidationError(
            [FieldError(source, 0, "", "", "", "", f"document too complex to read: {exc!r}")]
        ) from exc
    except Exception as exc:  # a bug must still surface as a validation failure, logged
        log.exception("parser internal error", source=source)
        raise ValidationError(
            [FieldError(source, 0, "", "", "", "", f"internal error while validating: {exc!r}")]
        ) from exc
    if errors:
        raise ValidationError(errors)
    return resources


def parse_document(data: Any, source: str, index: int = 0) -> Resource:
    """Parse one already-decoded document (e.g. from storage); raise `ValidationError`."""
    try:
        ctx = _Context(source, index, "", data)
        resource = _parse_one(data, ctx)
    except Exception as exc:  # same contract as parse_documents
        log.exception("parser internal error", source=source)
        raise ValidationError(
            [FieldError(source, index, "", "", "", "", f"internal error while validating: {exc!r}")]
        ) from exc
    if resource is None or ctx.errors:
        raise ValidationError(ctx.errors)
    return resource
