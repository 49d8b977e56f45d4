"""What to send a proxy for one type, given its :class:`TypeState` and the class's resources.

Pure functions; the stream core runs them for every subscribed type in
:data:`mizzen.envoy.PUSH_ORDER` and sends every *first* response (clusters and endpoints before
listeners and routes) before any *last* one (removals), so that nothing is removed while
something may still refer to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from mizzen.envoy import version_of
from mizzen.snapshots.cache import SizedLru
from mizzen.xds.domain.subscriptions import FULL_STATE_TYPES, TypeState

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Response:
    """One response to send: ``resources`` (name → hash) to carry, ``removed`` names (delta
    only), and what the proxy holds once it applies it (``known_after`` at ``version``)."""

    type_url: str
    resources: Mapping[str, str]
    known_after: Mapping[str, str]
    version: str
    removed: tuple[str, ...] = ()
    shared: bool = False
    """Whether ``resources`` is a shared, immutable map (the class's, or one of
    :class:`SharedMaps`): streams in the same state get this very response, which may then
    be encoded once for all of them."""


@dataclass(frozen=True, slots=True)
class Plan:
    """Up to two responses for one type: ``first`` goes out in the update phase, ``last``
    after every type's update (it removes something)."""

    first: Response | None = None
    last: Response | None = None
    responses: tuple[Response, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "responses", tuple(r for r in (self.first, self.last) if r))


NOTHING = Plan()


def _lru(size: int) -> SizedLru[Any, Any]:
    return SizedLru(size, lambda _: 1)  # bounded by count


class SharedMaps:
    """What the streams of one replica share, so that a push to a thousand proxies of a class
    does each piece of work once, and holds each map once:

    - :meth:`names`: one interned set per distinct subscription (a thousand Envoys of a
      class subscribe to the same thousand endpoint names);
    - :meth:`wanted`: the subscribed part of a class's map, one object per (map, name set),
      and the class's map itself when the names cover it (the usual case);
    - :meth:`version`: :func:`~mizzen.envoy.version_of` of a map;
    - :meth:`diff`: what differs between two maps (what a proxy holds and what it should).

    Maps are remembered by identity (the reader's maps are shared and immutable, see
    :class:`~mizzen.snapshots.SnapshotReader`), and held while remembered, so an identity is
    never reused meanwhile. Every argument map must never change afterwards. Bounded (least
    recently used entries are forgotten: that costs recomputation, never correctness). Not
    thread-safe; use from one event loop.
    """

    def __init__(self, size: int = 4096) -> None:
        self._names: SizedLru[frozenset[str], frozenset[str]] = _lru(size)
        self._versions: SizedLru[int, tuple[Mapping[str, str], str]] = _lru(size)
        self._wanted: SizedLru[tuple[int, int], tuple[Mapping[str, str], frozenset[str],
                                                   Mapping[str, str]]] = _lru(size)  # fmt: skip
        self._diffs: SizedLru[tuple[int, int], tuple[Mapping[str, str], Mapping[str, str],
                                                  Diff]] = _lru(size)  # fmt: skip

    def names(self, names: frozenset[str]) -> frozenset[str]:
        """The one shared set equal to ``names`` (``names`` itself the first time)."""
        found = self._names.get(names)
        if found is None:
            self._names.put(names, names)
            return names
        return found

    def version(self, hashes: Mapping[str, str]) -> str:
        """``version_of(hashes)``."""
        key = id(hashes)
        found = self._versions.get(key)
        if found is not None and found[0] is hashes:
            return found[1]
        version = version_of(hashes)
        self._versions.put(key, (hashes, version))
        return version

    def wanted(self, available: Mapping[str, str], names: frozenset[str]) -> Mapping[str, str]:
        """The entries of ``available`` named in ``names`` (``available`` itself when
        ``names`` covers it); read-only and shared."""
        key = (id(available), id(names))
        found = self._wanted.get(key)
        if found is not None and found[0] is available and found[1] is names:
            return found[2]
        if available.keys() <= names:
            subset = available
        else:
            subset = MappingProxyType({n: available[n] for n in names if n in available})
        self._wanted.put(key, (available, names, subset))
        return subset

    def diff(self, known: Mapping[str, str], want: Mapping[str, str]) -> Diff:
        """What a proxy holding ``known`` lacks of ``want``, and what it holds beyond it."""
        if not known:
            known = _EMPTY  # one key for every stream that holds nothing yet
        key = (id(known), id(want))
        found = self._diffs.get(key)
        if found is not None and found[0] is known and found[1] is want:
            return found[2]
        result = _diff(known, want)
        self._diffs.put(key, (known, want, result))
        return result


@dataclass(frozen=True, slots=True)
class Diff:
    """``updated``: the wanted entries the proxy lacks or holds with another hash;
    ``removed``: the names it holds that are not wanted (sorted)."""

    updated: Mapping[str, str]
    removed: tuple[str, ...]


def _diff(known: Mapping[str, str], want: Mapping[str, str]) -> Diff:
    if not known:
        return Diff(want, ())
    updated = {n: h for n, h in want.items() if known.get(n) != h}
    removed = tuple(sorted(n for n in known if n not in want))
    return Diff(MappingProxyType(updated) if updated else _EMPTY, removed)


def _wanted(
    state: TypeState, available: Mapping[str, str], memo: SharedMaps | None
) -> Mapping[str, str]:
    if state.wildcard:
        return available
    if memo is None:
        return {name: available[name] for name in state.names if name in available}
    state.names = memo.names(state.names)
    return memo.wanted(available, state.names)


def _version(want: Mapping[str, str], memo: SharedMaps | None) -> str:
    return version_of(want) if memo is None else memo.version(want)


def _with_resends(
    updated: Mapping[str, str], want: Mapping[str, str], resend: Set[str]
) -> Mapping[str, str]:
    extra = {n: want[n] for n in resend if n in want and n not in updated}
    return {**updated, **extra} if extra else updated


def plan_sotw(
    state: TypeState,
    available: Mapping[str, str],
    *,
    force: bool = False,
    memo: SharedMaps | None = None,
) -> Plan:
    """State of the world: send when the wanted state's version differs from the proxy's,
    when the proxy has no answer yet, when ``force`` is set (a repeated request) or when some
    wanted name must be resent.

    Full-state types (clusters, listeners) always carry the whole wanted state; when an
    update also drops names, the first response keeps the dropped ones and the last one
    removes them. The other types (routes, endpoints) carry only the resources the proxy
    lacks or holds in another version (and those to resend): the protocol leaves the
    resources a response omits unchanged, so a change to one route configuration sends that
    one, not every route configuration the proxy has. A forced or first answer carries all.

    When nothing is to be sent and ``state.known`` was unknown, it becomes the wanted map
    (the proxy's reported version matched it); that is this function's only side effect
    besides interning ``state.names`` in ``memo``. ``available`` must not change afterwards
    (responses and states keep it).
    """
    want = _wanted(state, available, memo)
    version = _version(want, memo)
    shared = memo is not None
    resend = state.resend & want.keys()
    if not (force or resend or not state.answered or version != state.version):
        if state.known is None:
            state.known = want
        return NOTHING
    known = state.known
    if state.type_url not in FULL_STATE_TYPES:
        if force or known is None:
            return Plan(first=Response(state.type_url, want, want, version, shared=shared))
        changes = memo.diff(known, want) if memo is not None else _diff(known, want)
        # Nothing to carry (names were only dropped): an empty response moves the version.
        updated = _with_resends(changes.updated, want, resend)
        shared = shared and updated is changes.updated
        return Plan(first=Response(state.type_url, updated, want, version, shared=shared))
    known = known or {}
    dropped = {name: h for name, h in known.items() if name not in want}
    final = Response(state.type_url, want, want, version, shared=shared)
    if not dropped:
        return Plan(first=final)
    merged = {**dropped, **want}
    if merged == known and not resend:
        return Plan(last=final)
    return Plan(Response(state.type_url, merged, merged, version_of(merged)), final)


def plan_delta(
    state: TypeState, available: Mapping[str, str], *, memo: SharedMaps | None = None
) -> Plan:
    """Incremental: send the wanted resources whose hash the proxy does not hold (or that
    must be resent), then remove the names it holds that are no longer wanted. A proxy
    without any answer yet gets one even when it is empty. Once both are applied the proxy
    holds exactly the wanted map, so that is what the last response records (shared, for a
    wildcard subscription). ``available`` must not change afterwards."""
    want = _wanted(state, available, memo)
    known = state.known or _EMPTY
    changes = memo.diff(known, want) if memo is not None else _diff(known, want)
    updated = _with_resends(changes.updated, want, state.resend)
    shared = memo is not None and updated is changes.updated
    removed = changes.removed
    if not updated and not removed:
        if state.answered:
            return NOTHING
        empty = Response(state.type_url, _EMPTY, want, _version(want, memo), shared=True)
        return Plan(first=empty)
    version = _version(want, memo)
    if not removed:
        return Plan(first=Response(state.type_url, updated, want, version, shared=shared))
    first = None
    if updated:
        after_update = {**known, **updated}
        first = Response(state.type_url, updated, after_update, version_of(after_update),
                         shared=shared)  # fmt: skip
    return Plan(first, Response(state.type_url, _EMPTY, want, version, removed, shared=True))
