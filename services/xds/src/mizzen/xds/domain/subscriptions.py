"""Per stream and resource type: what the proxy subscribed to, holds, and acknowledged.

One :class:`TypeState` per type a stream has asked for. It is owned by that stream's task and
mutated only there; nothing here is shared between streams.

Vocabulary, the same for both protocol variants:

- *wanted*: the resources of the class the proxy should hold: every resource of the type for
  a wildcard subscription, else the subscribed names the class has;
- *known*: what the proxy holds (or will, once it applies our latest response), name → hash;
  ``None`` when unknown (a state-of-the-world proxy that reconnected with a version we have
  not matched yet). Treated as immutable and replaced on change, so that every stream of a
  class that holds the whole of a type shares the reader's one map instead of a copy each;
- *version*: :func:`mizzen.envoy.version_of` of what the latest response left the proxy with,
  so every replica names equal content with an equal version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from mizzen.envoy import CLUSTER_TYPE, LISTENER_TYPE

WILDCARD_TYPES: frozenset[str] = frozenset({CLUSTER_TYPE, LISTENER_TYPE})
"""Types Envoy subscribes to with a wildcard (an empty first request); proxyless gRPC asks
for them by name instead."""

FULL_STATE_TYPES: frozenset[str] = frozenset({CLUSTER_TYPE, LISTENER_TYPE})
"""Types whose state-of-the-world responses carry the complete state: a name left out is
removed. (Routes and endpoints left out are merely unchanged.)"""

WILDCARD_NAME = "*"

EMPTY_MAP: Mapping[str, str] = MappingProxyType({})
"""What a stream holds of a type before any response: one shared empty map."""


@dataclass(frozen=True, slots=True)
class Nack:
    """A rejected response: its type, version and nonce, the proxy's error text and gRPC code,
    and when (seconds since the epoch)."""

    type_url: str
    version: str
    nonce: str
    error: str
    code: int
    at: float


@dataclass(slots=True, eq=False)
class TypeState:
    """What one stream knows about one resource type (see the module docstring)."""

    type_url: str
    wildcard: bool = False
    names: frozenset[str] = frozenset()
    """Subscribed names (besides the wildcard). Replaced, never mutated, so that the streams
    of a class can share one interned set (:meth:`~mizzen.xds.domain.plans.SharedMaps.names`)."""
    known: Mapping[str, str] | None = field(default_factory=lambda: EMPTY_MAP)
    version: str = ""
    nonce: str = ""
    acked_version: str = ""
    acked_nonce: str = ""
    nacked: bool = False
    answered: bool = False
    """Whether the proxy holds an answer for this type on this stream (sent by us, or
    reported on reconnection): until then even an empty response must be sent."""
    resend: set[str] = field(default_factory=set)
    """Names to send again even if unchanged (endpoints of clusters just updated)."""
    presubscribed: set[str] = field(default_factory=set)
    """Names the server added to ``names`` before the proxy asked for them: the endpoints of
    clusters just added, which Envoy subscribes to as it warms them. A request naming them
    confirms them; :meth:`drop_presubscribed` forgets those never confirmed."""

    def wanted(self, available: Mapping[str, str]) -> Mapping[str, str]:
        """The part of ``available`` (the class's name → hash of this type) to serve:
        ``available`` itself for a wildcard subscription (not a copy; never mutate it)."""
        if self.wildcard:
            return available
        return {name: available[name] for name in self.names if name in available}

    def subscribes_to(self, name: str) -> bool:
        """Whether a resource called ``name`` is wanted by this subscription."""
        return self.wildcard or name in self.names

    def record_sent(
        self, known_after: Mapping[str, str], version: str, nonce: str, names: Iterable[str]
    ) -> None:
        """A response with ``nonce`` went out: the proxy will hold ``known_after`` at
        ``version`` (the map is kept, not copied: it must not change); ``names`` were
        carried (and so need no resend)."""
        self.known = known_after
        self.version = version
        self.nonce = nonce
        self.answered = True
        self.nacked = False
        if self.resend:
            self.resend.difference_update(names)

    def presubscribe(self, names: Iterable[str]) -> None:
        """Serve ``names`` now, ahead of the proxy's request for them (see
        ``presubscribed``); they are sent even if the proxy is thought to hold them."""
        names = list(names)
        new = [name for name in names if not self.subscribes_to(name)]
        if new:
            self.names = self.names.union(new)
            self.presubscribed.update(new)
        self.resend.update(names)

    def confirm(self, names: Iterable[str]) -> set[str]:
        """The proxy asked for ``names``: those presubscribed are its own now. Returns those
        (already being served: no need to send them again)."""
        confirmed = self.presubscribed.intersection(names)
        self.presubscribed.difference_update(confirmed)
        return confirmed

    def drop_presubscribed(self) -> None:
        """Forget the presubscribed names the proxy never asked for (it did not take the
        clusters that use them): they are neither wanted nor held any more."""
        if not self.presubscribed:
            return
        dropped = self.presubscribed
        self.presubscribed = set()
        self.names = self.names - dropped
        self.resend.difference_update(dropped)
        if self.known is not None and not dropped.isdisjoint(self.known):
            self.known = {n: h for n, h in self.known.items() if n not in dropped}

    def record_ack(self, nonce: str, version: str) -> None:
        """The proxy accepted the response ``nonce`` and holds ``version``."""
        self.acked_nonce = nonce
        self.acked_version = version
        self.nacked = False

    def record_nack(self, nonce: str, error: str, code: int, at: float) -> Nack:
        """The proxy rejected the response ``nonce`` (our latest); it keeps its last good
        version. Returns the record of it."""
        self.nacked = True
        return Nack(self.type_url, self.version, nonce, error, code, at)
