"""Responses encoded once and written to every stream that needs the same one.

A change to a class reaches all its proxies in the same state, so they are due the very same
response: the same resources (the planner's shared maps, :class:`~mizzen.xds.domain.plans.
SharedMaps`) at the same version. :class:`EncodedResponses` serializes such a response once,
under a nonce of its own, and hands the same bytes to each stream: a push to a thousand
proxies encodes one response, not a thousand.

A nonce only has to tell apart the responses one stream receives for one type. A shared
response's nonce (``p<n>``, a replica-wide counter) is unique per cached entry, and a stream
takes a shared response only when it moves that stream to a new version; a response that
repeats the stream's version (a repeated request, resent endpoints) gets the stream's own
nonce instead, so one stream never sees one nonce twice in a row for one type.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

from mizzen.snapshots.cache import SizedLru
from mizzen.xds.domain.plans import Response

__all__ = ["EncodedResponses"]

Encoder = Callable[[str], bytes]
"""``encode(nonce)``: the serialized response under that nonce."""


class EncodedResponses:
    """Shared encoded responses, least recently used forgotten beyond ``max_bytes``.

    Entries are keyed by the protocol variant, the type, the version, the removed names and
    the *identity* of the resources map, which each entry holds (so an identity is never
    reused while cached). Use from one event loop.
    """

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self._entries: SizedLru[tuple[object, ...], tuple[Mapping[str, str], str, bytes]] = (
            SizedLru(max_bytes, lambda entry: len(entry[2]))
        )
        self._counter = itertools.count(1)
        self.hits = 0
        """Responses served from the cache (for tests and debugging)."""

    def get(self, protocol: str, response: Response, encode: Encoder) -> tuple[str, bytes]:
        """``(nonce, bytes)`` of ``response`` (which must be ``shared``), encoding it with
        ``encode(nonce)`` the first time."""
        key = (protocol, response.type_url, response.version, response.removed,
               id(response.resources))  # fmt: skip
        found = self._entries.get(key)
        if found is not None and found[0] is response.resources:
            self.hits += 1
            return found[1], found[2]
        nonce = f"p{next(self._counter)}"
        data = encode(nonce)
        self._entries.put(key, (response.resources, nonce, data))
        return nonce, data
