"""Errors raised by mizzen.api.

The hierarchy::

    ApiError                  base of every error this package raises
    └── ValidationError       documents that cannot be read, or that Istio would reject;
                              carries one FieldError per problem found

`parse_documents` raises nothing but `ValidationError`, whatever text it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem in one document.

    Fields:
        source: the file (or other origin) the text came from, as the caller named it.
        document_index: 0-based position of the document in the stream (YAML documents,
            concatenated JSON values); items of a `kind: List` keep their list's index
            and carry an `items[i].` prefix in `path`.
        kind: the document's `kind`, or "" when it has none.
        namespace: `metadata.namespace`, or "" when unset.
        name: `metadata.name`, or "" when unset.
        path: the field path in Istio's style (`spec.http[0].route[1].weight`), or ""
            when the problem concerns the whole document.
        message: what is wrong and what would be valid.
    """

    source: str
    document_index: int
    kind: str
    namespace: str
    name: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: document {self.document_index}"
        if self.kind or self.name:
            ident = f"{self.namespace}/{self.name}" if self.namespace else self.name
            where += f" ({self.kind} {ident})" if ident else f" ({self.kind})"
        if self.path:
            return f"{where}: {self.path}: {self.message}"
        return f"{where}: {self.message}"


class ApiError(Exception):
    """Base of every error raised by mizzen.api."""


class ValidationError(ApiError):
    """One or more documents are unreadable or invalid.

    `errors` holds every problem found (never empty); `str()` lists them one per line.
    """

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors: tuple[FieldError, ...] = tuple(errors)
        super().__init__("\n".join(str(e) for e in self.errors))
