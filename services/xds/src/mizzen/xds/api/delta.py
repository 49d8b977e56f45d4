"""Incremental ADS (``DeltaAggregatedResources``).

Each resource travels with its content hash as its version, and the stream remembers which
hash the proxy holds per name, so only what differs is sent and names no longer wanted are
removed. A reconnecting proxy sends what it holds (``initial_resource_versions``): when the
hashes match, nothing is sent.

Wildcard: Envoy subscribes to clusters and listeners with an empty first request (not with
``*``); ``*`` is honoured too. Subscribing to a name again asks for it again (it is sent even
if unchanged), except a name the stream core sent ahead of the request (the endpoints of a
cluster it just added: :meth:`~mizzen.xds.domain.subscriptions.TypeState.presubscribe`).
Subscription changes apply whatever the nonce; ``response_nonce`` equal to our
latest with ``error_detail`` is a NACK, without one an ACK (a stale nonce acknowledges
nothing). Envoy does not ask again for the endpoints of a cluster it re-warms after a CDS
update: the stream core resends them (FACTS.md's 15-second stall).

After a NACK the proxy keeps its last good resources, yet the stream goes on counting the
rejected ones as held: they are not sent again until they change, so one bad resource does
not make every later update of its type fail with it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from mizzen.envoy import version_of
from mizzen.xds.api import wire
from mizzen.xds.api.stream import RequestOutcome, Variant
from mizzen.xds.domain.plans import Plan, Response, SharedMaps, plan_delta
from mizzen.xds.domain.subscriptions import WILDCARD_NAME, WILDCARD_TYPES, Nack, TypeState


class DeltaVariant(Variant):
    """The incremental protocol variant (see the module docstring)."""

    protocol: ClassVar[str] = "delta"

    def on_request(self, request: Any, states: dict[str, TypeState], now: float) -> RequestOutcome:
        """See :meth:`Variant.on_request`."""
        type_url: str = sys.intern(request.type_url)
        subscribe = [sys.intern(name) for name in request.resource_names_subscribe]
        state = states.get(type_url)
        first = state is None
        if state is None:
            state = states[type_url] = TypeState(type_url)
            state.wildcard = type_url in WILDCARD_TYPES and not subscribe
            state.known = {sys.intern(n): v for n, v in request.initial_resource_versions.items()}
            if state.known:
                # Reconnected: the proxy holds these (hash-versioned) resources already.
                state.answered = True
                state.version = state.acked_version = version_of(state.known)
        self._subscribe(state, subscribe, resend=not first)
        self._unsubscribe(state, request.resource_names_unsubscribe)
        acked = False
        nack: Nack | None = None
        nonce: str = sys.intern(request.response_nonce)
        if nonce and nonce == state.nonce:
            if request.HasField("error_detail"):
                detail = request.error_detail
                nack = state.record_nack(nonce, detail.message, detail.code, now)
            else:
                state.record_ack(nonce, state.version)
                acked = True
        return RequestOutcome(
            type_url, respond=first or bool(subscribe), acked=acked, nack=nack, subscribed=first
        )

    @staticmethod
    def _subscribe(state: TypeState, names: Iterable[str], *, resend: bool) -> None:
        names = list(names)
        # A name the server presubscribed (endpoints of a new cluster) was sent already.
        confirmed = state.confirm(names)
        added = []
        for name in names:
            if name == WILDCARD_NAME:
                state.wildcard = True
            else:
                added.append(name)
                if resend and name not in confirmed:
                    state.resend.add(name)
        if added:
            state.names = state.names.union(added)

    @staticmethod
    def _unsubscribe(state: TypeState, names: Iterable[str]) -> None:
        gone = set(names)
        if not gone:
            return
        if WILDCARD_NAME in gone:
            gone.discard(WILDCARD_NAME)
            state.wildcard = False
        state.names = state.names - gone
        # Held names no longer wanted are forgotten: those unsubscribed by name, and after
        # leaving the wildcard, every name not subscribed by name.
        known = {n: h for n, h in (state.known or {}).items() if state.subscribes_to(n)}
        state.resend.difference_update(n for n in gone if not state.subscribes_to(n))
        state.known = known

    def plan(
        self, state: TypeState, available: Mapping[str, str], *, force: bool, memo: SharedMaps
    ) -> Plan:
        """See :meth:`Variant.plan` and :func:`~mizzen.xds.domain.plans.plan_delta`."""
        return plan_delta(state, available, memo=memo)

    def encode(
        self, response: Response, bodies: Mapping[str, bytes], nonce: str, control_plane: str
    ) -> bytes:
        """A ``DeltaDiscoveryResponse``: each resource with its hash as version, sorted."""
        resources = response.resources
        return wire.delta_response(
            type_url=response.type_url,
            system_version=response.version,
            nonce=nonce,
            resources=[(n, resources[n], bodies[resources[n]]) for n in sorted(resources)],
            removed=response.removed,
            control_plane=control_plane,
        )
