"""What to send a proxy for one type, given its :class:`TypeState` and the class's resources.

Pure functions; the stream core runs them for every subscribed type in
:data:`mizzen.envoy.PUSH_ORDER` and sends every *first* response (clusters and endpoints before
listeners and routes) before any *last* one (removals), so that nothing is removed while
something may still refer to it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from mizzen.envoy import version_of
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


class VersionMemo:
    """Remembers :func:`~mizzen.envoy.version_of` of the last ``size`` immutable maps it was
    asked about, by identity: the streams of one class share the reader's maps, so a push to
    a thousand of them hashes each map once. Holds the maps it remembers (so an identity is
    never reused while remembered). Not thread-safe; use from one event loop."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._versions: OrderedDict[int, tuple[Mapping[str, str], str]] = OrderedDict()

    def version(self, hashes: Mapping[str, str]) -> str:
        """``version_of(hashes)``; ``hashes`` must never change afterwards."""
        key = id(hashes)
        found = self._versions.get(key)
        if found is not None and found[0] is hashes:
            self._versions.move_to_end(key)
            return found[1]
        version = version_of(hashes)
        self._versions[key] = (hashes, version)
        if len(self._versions) > self._size:
            self._versions.popitem(last=False)
        return version


def _version(want: Mapping[str, str], state: TypeState, memo: VersionMemo | None) -> str:
    # Only a wildcard subscription's map is the shared, immutable one worth remembering.
    return memo.version(want) if memo is not None and state.wildcard else version_of(want)


def plan_sotw(
    state: TypeState,
    available: Mapping[str, str],
    *,
    force: bool = False,
    memo: VersionMemo | None = None,
) -> Plan:
    """State of the world: send the wanted resources when their version differs from the
    proxy's, when the proxy has no answer yet, when ``force`` is set (a repeated request) or
    when some wanted name must be resent. For full-state types (clusters, listeners) whose
    update also drops names, the first response keeps the dropped ones and the last one
    removes them.

    When nothing is to be sent and ``state.known`` was unknown, it becomes the wanted map
    (the proxy's reported version matched it); that is this function's only side effect.
    ``available`` must not change afterwards (responses and states keep it).
    """
    want = state.wanted(available)
    version = _version(want, state, memo)
    resend = bool(state.resend & want.keys())
    if not (force or resend or not state.answered or version != state.version):
        if state.known is None:
            state.known = want
        return NOTHING
    known = state.known or {}
    dropped = (
        {name: h for name, h in known.items() if name not in want}
        if state.type_url in FULL_STATE_TYPES
        else {}
    )
    final = Response(state.type_url, want, want, version)
    if not dropped:
        return Plan(first=final)
    merged = {**dropped, **want}
    if merged == known and not resend:
        return Plan(last=final)
    return Plan(Response(state.type_url, merged, merged, version_of(merged)), final)


def plan_delta(
    state: TypeState, available: Mapping[str, str], *, memo: VersionMemo | None = None
) -> Plan:
    """Incremental: send the wanted resources whose hash the proxy does not hold (or that
    must be resent), then remove the names it holds that are no longer wanted. A proxy
    without any answer yet gets one even when it is empty. Once both are applied the proxy
    holds exactly the wanted map, so that is what the last response records (shared, for a
    wildcard subscription). ``available`` must not change afterwards."""
    want = state.wanted(available)
    known = state.known or _EMPTY
    updated = {n: h for n, h in want.items() if known.get(n) != h or n in state.resend}
    removed = tuple(sorted(n for n in known if n not in want))
    if not updated and not removed:
        if state.answered:
            return NOTHING
        return Plan(first=Response(state.type_url, _EMPTY, want, _version(want, state, memo)))
    version = _version(want, state, memo)
    if not removed:
        return Plan(first=Response(state.type_url, updated, want, version))
    first = None
    if updated:
        after_update = {**known, **updated}
        first = Response(state.type_url, updated, after_update, version_of(after_update))
    return Plan(first, Response(state.type_url, _EMPTY, want, version, removed))
