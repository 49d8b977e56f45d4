"""What the translation pipeline needs from the generators, as structural types.

The generators (``mizzen.translator.domain.generators``) produce values of these shapes; the
pipeline depends only on the shapes, so either side can change its internals freely.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from mizzen.api import Resource
from mizzen.envoy import EnvoyResource
from mizzen.registry import Registry
from mizzen.snapshots import ProxyClass


class GeneratedSetLike(Protocol):
    """One resource set: its id (named by its inputs), type URL and resources."""

    @property
    def set_id(self) -> str: ...
    @property
    def type_url(self) -> str: ...
    @property
    def resources(self) -> Sequence[EnvoyResource]: ...


class GeneratedClassLike(Protocol):
    """Everything one proxy class is served, as sets."""

    @property
    def sets(self) -> Sequence[GeneratedSetLike]: ...


BuildConfig = Callable[[Sequence[Resource]], Any]
"""Index the stored Istio resources once per config change (the generators' MeshConfig)."""

Generate = Callable[[Any, Registry, ProxyClass], GeneratedClassLike]
"""Pure: (indexed config, registry, proxy class) -> the class's generated sets."""


class TranslationLike(Protocol):
    """One translation of a (config, registry) pair, for any number of classes."""

    def generate(self, proxy: ProxyClass) -> GeneratedClassLike: ...


NewTranslation = Callable[[Any, Registry, Any, frozenset[str]], TranslationLike]
"""``(config, registry, previous translation or None, changed inputs) -> translation``.

``changed`` names what differs from the previous translation's inputs: config kinds
(``VirtualService``, ...) and registry parts (``services``, ``endpoints``); sets whose
generators read none of them may be reused from ``previous``.
"""
