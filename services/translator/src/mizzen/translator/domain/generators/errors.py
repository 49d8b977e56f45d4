"""Errors raised by the generators.

Every error a generator raises derives from one base class::

    GeneratorError            a generator could not translate its inputs; names the
                              generator and, when known, the Istio resource at fault

Unexpected failures inside a generator are re-raised as :class:`GeneratorError` (``from`` the
original exception) by :func:`~mizzen.translator.domain.generators.generate`, so a caller
always learns which generator failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["GeneratorError", "blame"]


class GeneratorError(Exception):
    """``generator`` failed; ``resource`` is the Istio resource (``Kind/ns/name``) at fault,
    ``""`` when the failure is not tied to one."""

    def __init__(self, generator: str, message: str, *, resource: str = "") -> None:
        self.generator = generator
        self.resource = resource
        self.reason = message
        where = f" ({resource})" if resource else ""
        super().__init__(f"generator {generator}{where}: {message}")


@contextmanager
def blame(resource: str) -> Iterator[None]:
    """Report a failure while translating ``resource`` (``Kind/ns/name``) as a
    :class:`GeneratorError` naming it; the running generator adds its own name."""
    try:
        yield
    except GeneratorError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise GeneratorError("", f"{type(exc).__name__}: {exc}", resource=resource) from exc
