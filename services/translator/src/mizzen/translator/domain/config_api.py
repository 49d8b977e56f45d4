"""The config API's logic: read documents, validate all of them, then store all or none."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from mizzen.api import FieldError, Resource, ValidationError, lookup_kind, parse_documents
from mizzen.configstore import ApplyResult, ConfigRepository, InvalidConfig, ResourceKey

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class SourceText:
    """A file's name and text, as a client sent it."""

    name: str
    content: str


class UnknownKind(ValueError):
    """A kind name that is neither a kind, its plural nor its short name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"unknown kind {name!r}; use a kind (VirtualService), its plural "
            "(virtualservices) or its short name (vs)"
        )


def resolve_kind(name: str) -> str:
    """The canonical kind for ``name`` (``vs``, ``virtualservices``, ``VirtualService``)."""
    info = lookup_kind(name)
    if info is None:
        raise UnknownKind(name)
    return info.kind


def read_documents(files: Sequence[SourceText], *, default_namespace: str) -> list[Resource]:
    """Parse and validate every document of every file, giving each a namespace.

    Raises :class:`InvalidConfig` with every problem in every file when any is invalid, so a
    user sees them all at once.
    """
    namespace = default_namespace or DEFAULT_NAMESPACE
    resources: list[Resource] = []
    errors: list[FieldError] = []
    for source in files:
        try:
            parsed = parse_documents(source.content, source.name)
        except ValidationError as exc:
            # Name the namespace the document would have been stored in.
            errors.extend(
                dataclasses.replace(e, namespace=namespace) if e.kind and not e.namespace else e
                for e in exc.errors
            )
            continue
        resources.extend(_with_namespace(r, namespace) for r in parsed)
    if errors:
        raise InvalidConfig(errors)
    return resources


def _with_namespace(resource: Resource, namespace: str) -> Resource:
    if resource.namespace:
        return resource
    metadata = resource.metadata.model_copy(update={"namespace": namespace})
    return resource.model_copy(update={"metadata": metadata})


class ConfigApi:
    """What the ConfigService does, over a :class:`ConfigRepository`.

    Stateless apart from the repository; safe for concurrent requests.
    """

    def __init__(self, repository: ConfigRepository) -> None:
        self.repository = repository

    async def apply(
        self,
        files: Sequence[SourceText],
        *,
        applied_by: str,
        default_namespace: str = "",
        dry_run: bool = False,
    ) -> ApplyResult:
        """Validate every document of ``files``; then store all of them in one transaction."""
        resources = read_documents(files, default_namespace=default_namespace)
        if not resources:
            raise InvalidConfig([FieldError(
                source=", ".join(f.name for f in files) or "request", document_index=0,
                kind="", namespace="", name="", path="",
                message="no documents to apply")])  # fmt: skip
        return await self.repository.apply(resources, applied_by=applied_by, dry_run=dry_run)

    @staticmethod
    def key(kind: str, namespace: str, name: str) -> ResourceKey:
        """The key for a kind name as users type it (short names allowed)."""
        return ResourceKey(resolve_kind(kind), namespace or DEFAULT_NAMESPACE, name)
