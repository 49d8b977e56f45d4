"""A least-recently-used cache bounded by the total size of its values."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["SizedLru"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SizedLru(Generic[K, V]):
    """Values by key, the least recently used evicted once their sizes (``size_of(value)``)
    add up to more than ``max_size``. A value larger than ``max_size`` is not kept. Not
    thread-safe."""

    def __init__(self, max_size: int, size_of: Callable[[V], int]) -> None:
        self._max_size = max_size
        self._size_of = size_of
        self._items: OrderedDict[K, V] = OrderedDict()
        self._size = 0

    @property
    def size(self) -> int:
        """The total size of the values held."""
        return self._size

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        """The value of ``key`` (now the most recently used), or ``None``."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` under ``key`` (replacing what was there), evicting as needed."""
        size = self._size_of(value)
        if size > self._max_size:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._size -= self._size_of(old)
        self._items[key] = value
        self._size += size
        while self._size > self._max_size:
            _, evicted = self._items.popitem(last=False)
            self._size -= self._size_of(evicted)
