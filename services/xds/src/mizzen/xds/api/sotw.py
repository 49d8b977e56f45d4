"""State-of-the-world ADS (``StreamAggregatedResources``).

Every response carries the whole wanted state of its type, versioned with
:func:`mizzen.envoy.version_of`, so any replica gives equal content an equal version: a
proxy that reconnects with the version we would send gets nothing (its first request
carries ``version_info`` and no nonce).

Requests, per type: no nonce is a subscription (a first one, or a repeated one: answered
even if nothing changed); a nonce other than our latest is stale (a newer response is on its
way, so the request is ignored entirely: the proxy will ask again with the names it wants);
our latest nonce with ``error_detail`` is a NACK, without one an ACK. An ACK repeating a
nonce already acknowledged is Envoy asking again, e.g. for the endpoints of a cluster it is
re-warming after a CDS update (FACTS.md's 15-second stall): it is answered in full.

A NACKed version is not sent again; the next change of the type's content sends the whole
new state (a bad resource still in it is rejected again: state of the world cannot leave it
out, since leaving out a cluster or listener removes it).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any, ClassVar

from mizzen.xds.api import wire
from mizzen.xds.api.stream import RequestOutcome, Variant
from mizzen.xds.domain.plans import Plan, Response, SharedMaps, plan_sotw
from mizzen.xds.domain.subscriptions import WILDCARD_NAME, WILDCARD_TYPES, TypeState


class SotwVariant(Variant):
    """The state-of-the-world protocol variant (see the module docstring)."""

    protocol: ClassVar[str] = "sotw"

    def on_request(self, request: Any, states: dict[str, TypeState], now: float) -> RequestOutcome:
        """See :meth:`Variant.on_request`."""
        # Interned: every stream keeps these strings (the type in its state, the versions and
        # nonces it acknowledged), and a thousand streams hold the same few.
        type_url: str = sys.intern(request.type_url)
        state = states.get(type_url)
        first = state is None
        if state is None:
            state = states[type_url] = TypeState(type_url)
        # Before our first response on this stream a nonce can only be another stream's.
        nonce: str = sys.intern(request.response_nonce) if state.nonce else ""
        if nonce and nonce != state.nonce:
            return RequestOutcome(type_url)  # stale
        names = frozenset(sys.intern(name) for name in request.resource_names)
        wildcard = WILDCARD_NAME in names or (
            not names and (type_url in WILDCARD_TYPES if first else state.wildcard)
        )
        if WILDCARD_NAME in names:
            names = names - {WILDCARD_NAME}
        changed = names != state.names or wildcard != state.wildcard
        if changed:  # else keep the set held (shared by the class's streams once planned)
            state.names, state.wildcard = names, wildcard
        # Not stale: the proxy saw our latest response, so its names are the truth now.
        state.presubscribed.clear()
        if nonce:
            if request.HasField("error_detail"):
                detail = request.error_detail
                nack = state.record_nack(nonce, detail.message, detail.code, now)
                return RequestOutcome(type_url, respond=changed, nack=nack)
            repeated = state.acked_nonce == nonce
            state.record_ack(nonce, sys.intern(request.version_info))
            return RequestOutcome(
                type_url, respond=changed or repeated, force=repeated, acked=not repeated
            )
        if first and request.version_info:
            # Reconnected: the proxy holds this version from an earlier stream, perhaps on
            # another replica; if it is what we would send, nothing needs sending.
            state.version = state.acked_version = sys.intern(request.version_info)
            state.answered = True
            state.known = None
            return RequestOutcome(type_url, respond=True, subscribed=True)
        return RequestOutcome(type_url, respond=True, force=not first, subscribed=first)

    def plan(
        self, state: TypeState, available: Mapping[str, str], *, force: bool, memo: SharedMaps
    ) -> Plan:
        """See :meth:`Variant.plan` and :func:`~mizzen.xds.domain.plans.plan_sotw`."""
        return plan_sotw(state, available, force=force, memo=memo)

    def encode(
        self, response: Response, bodies: Mapping[str, bytes], nonce: str, control_plane: str
    ) -> bytes:
        """A ``DiscoveryResponse`` with the stored bytes of every resource, sorted by name."""
        resources = response.resources
        return wire.sotw_response(
            type_url=response.type_url,
            version=response.version,
            nonce=nonce,
            bodies=[bodies[resources[name]] for name in sorted(resources)],
            control_plane=control_plane,
        )
