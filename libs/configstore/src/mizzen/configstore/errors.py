"""Errors of :mod:`mizzen.configstore`.

::

    ConfigStoreError             base of every error this package raises
    ├── InvalidConfig            documents failed validation (carries mizzen.api FieldErrors)
    ├── NotFound                 the resource (or history revision) does not exist
    └── Conflict                 a write named a resourceVersion that is no longer current,
                                 or lost a race it cannot safely retry

Store failures (:class:`mizzen.store.StoreError`) pass through unchanged: they are not about
the config, and the service maps them to UNAVAILABLE in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

from mizzen.api import FieldError


class ConfigStoreError(Exception):
    """Base of every error raised by mizzen.configstore."""


class InvalidConfig(ConfigStoreError):
    """Documents are invalid; ``errors`` has one entry per problem (never empty)."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


class NotFound(ConfigStoreError):
    """``kind namespace/name`` does not exist (or has no history entry at ``revision``)."""

    def __init__(self, kind: str, namespace: str, name: str, *, revision: int | None = None):
        self.kind, self.namespace, self.name, self.revision = kind, namespace, name, revision
        what = f"{kind} {namespace}/{name}"
        if revision is None:
            super().__init__(f"{what} not found")
        else:
            super().__init__(f"{what} has no history entry at revision {revision}")


class Conflict(ConfigStoreError):
    """A write was based on a stale ``resourceVersion``, or kept losing races.

    ``expected`` is the version the writer named (``None``: it named none but other writers
    changed the resource on every retry), ``current`` the one stored (0: absent).
    """

    def __init__(
        self, kind: str, namespace: str, name: str, *, expected: str | None, current: int
    ) -> None:
        self.kind, self.namespace, self.name = kind, namespace, name
        self.expected, self.current = expected, current
        if expected is None:
            super().__init__(
                f"{kind} {namespace}/{name}: other writers changed it on every retry; try again"
            )
            return
        now = f"it is now {current}" if current else "it no longer exists"
        super().__init__(
            f"{kind} {namespace}/{name}: the object has been modified (resourceVersion "
            f"{expected} is stale; {now}); read it again and reapply your change"
        )
