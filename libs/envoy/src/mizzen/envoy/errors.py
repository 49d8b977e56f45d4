"""Errors raised by ``mizzen.envoy``.

Every error this package raises on purpose derives from one base class::

    EnvoyError                    any failure of the Envoy helpers
    ├── InvalidNameError          a name that does not follow Istio's scheme (also a ValueError)
    ├── UnknownTypeError          a type URL or short type name this package does not know
    │                             (also a ValueError)
    ├── ResourceError             resource bytes that cannot be decoded, or resources that
    │   │                         cannot form a snapshot (also a ValueError)
    │   └── DuplicateResourceError  two resources of one type share a name
    └── ValidationRunError        ``envoy --mode validate`` could not be run at all (binary
                                  missing, timeout); a config Envoy *rejects* is a normal
                                  result, not an error

Errors carry their context as attributes as well as in the message and are raised ``from``
the underlying exception when there is one.
"""

from __future__ import annotations

__all__ = [
    "DuplicateResourceError",
    "EnvoyError",
    "InvalidNameError",
    "ResourceError",
    "UnknownTypeError",
    "ValidationRunError",
]


class EnvoyError(Exception):
    """Base class of every error raised on purpose by ``mizzen.envoy``."""


class InvalidNameError(EnvoyError, ValueError):
    """``name`` is not a valid ``kind`` name (cluster name, node id, route name...)."""

    def __init__(self, kind: str, name: str, reason: str) -> None:
        self.kind = kind
        self.name = name
        self.reason = reason
        super().__init__(f"invalid {kind} {name!r}: {reason}")


class UnknownTypeError(EnvoyError, ValueError):
    """``type_name`` is neither a known xDS type URL nor a known short name."""

    def __init__(self, type_name: str, known: list[str]) -> None:
        self.type_name = type_name
        self.known = known
        super().__init__(f"unknown xDS type {type_name!r}; known: {', '.join(known)}")


class ResourceError(EnvoyError, ValueError):
    """A resource cannot be decoded or placed (names the resource when it has one)."""

    def __init__(self, message: str, *, name: str = "", type_url: str = "") -> None:
        self.name = name
        self.type_url = type_url
        super().__init__(message)


class DuplicateResourceError(ResourceError):
    """Two resources of the same type carry the same name."""

    def __init__(self, name: str, type_url: str) -> None:
        super().__init__(
            f"duplicate resource name {name!r} for type {type_url}", name=name, type_url=type_url
        )


class ValidationRunError(EnvoyError):
    """``envoy --mode validate`` could not run to completion (not: the config was rejected)."""

    def __init__(self, reason: str, *, output: str = "") -> None:
        self.reason = reason
        self.output = output
        message = f"envoy --mode validate could not run: {reason}"
        if output:
            message += f"\n--- envoy output ---\n{output}"
        super().__init__(message)
