"""The stream core shared by both ADS protocol variants.

One :class:`StreamCore` per ADS stream, run by the stream's own task. It reads requests and
snapshot-change notices from one inbox, so everything about a stream happens in order in
that one task: no locks. What differs between state-of-the-world and delta (reading a
request, planning a type, encoding a response) is a :class:`Variant`
(:mod:`mizzen.xds.api.sotw`, :mod:`mizzen.xds.api.delta`).

A push, whatever caused it, goes like this:

1. the class's resources are read from the :class:`~mizzen.snapshots.SnapshotReader` (in
   memory); a class without a snapshot yet gets nothing (the translator is on it);
2. each type the proxy subscribed to is planned in :data:`~mizzen.envoy.PUSH_ORDER`; when
   the clusters response adds or changes a cluster, the endpoints of every such EDS cluster
   are sent right after it: Envoy warms the cluster and waits for its ClusterLoadAssignment,
   which a server that only sends changes would never send again for a changed cluster
   (FACTS.md: the 15-second stall), and which it would send only once asked for a new one.
   The endpoints of a new cluster are sent ahead of Envoy's request for them
   (:meth:`~mizzen.xds.domain.subscriptions.TypeState.presubscribe`);
3. the bodies of everything to send are fetched at once (cached, shared), then every
   *first* response goes out in type order, then every *last* one (removals).

**Routes wait for warm clusters.** A route naming a cluster that is still warming answers
503 (``no_cluster``). So once a clusters response adds or changes a cluster, listeners,
routes and every removal are held back (:class:`RouteHold`) until the proxy acknowledges
the latest clusters response: Envoy does so only once the clusters warmed. A NACK releases
them too (the last good clusters stay, and the routes go out anyway), and so does a deadline
(``route_hold_seconds``, logged and counted: a proxy never waits forever). Whatever changes
meanwhile is planned again on release, so holding coalesces as pushing does.

Changes are coalesced: any number of notices that arrive while a push runs cause one more
push, which sends what differs from what the proxy was sent, whatever the number of
revisions in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Set
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

import structlog
from google.protobuf import json_format

from mizzen.envoy import CLUSTER_TYPE, ENDPOINT_TYPE, PUSH_ORDER
from mizzen.runtime import HeapSettler, bound_log_context
from mizzen.snapshots import MissingResourceError, SnapshotReader
from mizzen.snapshots.status import NackRecord, ProxyStatus, TypeStatus, format_time
from mizzen.xds.api.encoded import EncodedResponses
from mizzen.xds.domain.node import ProxyIdentity, identify, locality_text
from mizzen.xds.domain.plans import Plan, Response, SharedMaps
from mizzen.xds.domain.subscriptions import Nack, TypeState
from mizzen.xds.domain.warming import HELD_TYPES, RouteHold, eds_service_name
from mizzen.xds.metrics import XdsMetrics, type_label
from mizzen.xds.proxy_status import ProxyStatusRecorder

log = structlog.get_logger(__name__)

_EMPTY: Mapping[str, str] = MappingProxyType({})
_ORDER = {type_url: index for index, type_url in enumerate(PUSH_ORDER)}
DEFAULT_ROUTE_HOLD_SECONDS = 5.0
DEFAULT_CLASS_WAIT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    """What a request meant for its type: whether to look at the type now (``respond``),
    whether to answer even if the proxy seems up to date (``force``: it asked again), and
    whether it acknowledged (``acked``) or rejected (``nack``) our latest response, and
    whether it was the first request for the type on this stream (``subscribed``)."""

    type_url: str
    respond: bool = False
    force: bool = False
    acked: bool = False
    nack: Nack | None = None
    subscribed: bool = False


class Variant(ABC):
    """What differs between the protocol variants. Stateless: the states are passed in."""

    protocol: ClassVar[str]

    @abstractmethod
    def on_request(self, request: Any, states: dict[str, TypeState], now: float) -> RequestOutcome:
        """Apply ``request`` to the state of its type (creating it on first sight)."""

    @abstractmethod
    def plan(
        self, state: TypeState, available: Mapping[str, str], *, force: bool, memo: SharedMaps
    ) -> Plan:
        """The responses that bring the proxy from ``state`` to ``available`` (``memo`` holds
        what the streams of the replica share: name sets, subsets, versions, differences)."""

    @abstractmethod
    def encode(
        self, response: Response, bodies: Mapping[str, bytes], nonce: str, control_plane: str
    ) -> bytes:
        """The serialized response message; ``bodies`` holds every hash ``response`` sends."""


@dataclass(frozen=True, slots=True)
class StreamServices:
    """What every stream of a replica shares (built once by ``app.py``)."""

    reader: SnapshotReader
    registry: StreamRegistry
    status: ProxyStatusRecorder
    metrics: XdsMetrics
    replica: str
    shared: SharedMaps = field(default_factory=SharedMaps)
    responses: EncodedResponses = field(default_factory=EncodedResponses)
    heap: HeapSettler = field(default_factory=HeapSettler)
    """Told of every push, so that the heap settles between bursts, not during one."""
    route_hold_seconds: float = DEFAULT_ROUTE_HOLD_SECONDS
    """How long listeners and routes wait for the proxy to ACK new clusters at most."""
    class_wait_seconds: float = DEFAULT_CLASS_WAIT_SECONDS
    """How long a stream waits for its class's first translation before asking again."""


class StreamRegistry:
    """The open streams, by class id: turns snapshot changes into per-stream notices.

    :meth:`on_change` is a :data:`~mizzen.snapshots.ClassChangeListener`. Use from one loop.
    """

    def __init__(self) -> None:
        self._by_class: dict[str, set[StreamCore]] = {}
        self._closing = False

    def __len__(self) -> int:
        return sum(len(streams) for streams in self._by_class.values())

    @property
    def closing(self) -> bool:
        """Whether :meth:`close_all` was called (the replica is shutting down)."""
        return self._closing

    def add(self, class_id: str, stream: StreamCore) -> None:
        """Route notices about ``class_id`` to ``stream`` (closed at once when closing)."""
        self._by_class.setdefault(class_id, set()).add(stream)
        if self._closing:
            stream.close()

    def remove(self, class_id: str, stream: StreamCore) -> None:
        """Stop routing notices to ``stream``."""
        streams = self._by_class.get(class_id)
        if streams is not None:
            streams.discard(stream)
            if not streams:
                del self._by_class[class_id]

    def on_change(self, class_ids: frozenset[str], revision: int) -> None:
        """Notify every stream of the changed classes."""
        for class_id in class_ids:
            for stream in self._by_class.get(class_id, ()):
                stream.notify()

    def close_all(self) -> None:
        """End every stream (and any that opens later): the replica is going away, and its
        proxies should move to another one."""
        self._closing = True
        for streams in self._by_class.values():
            for stream in streams:
                stream.close()


class _Signal:
    """Inbox items that are not requests."""

    CHANGED = "changed"
    HOLD_EXPIRED = "hold_expired"
    CLASS_CHECK = "class_check"
    END = "end"
    CLOSE = "close"


_connection_ids = itertools.count(1)


class StreamCore:
    """One ADS stream: identify the proxy, then serve requests and pushes until it ends.

    ``write`` sends one serialized response (``context.write``). :meth:`notify` and
    :meth:`close` may be called from any task of the loop; everything else runs in the task
    that awaits :meth:`run`.
    """

    def __init__(
        self,
        variant: Variant,
        services: StreamServices,
        write: Callable[[bytes], Awaitable[None]],
    ) -> None:
        self._variant = variant
        self._services = services
        self._write = write
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._states: dict[str, TypeState] = {}
        self._identity: ProxyIdentity | None = None
        self._change_pending = False
        self._changed_at = 0.0
        self._connected_at = time.time()
        self._last_nack: Nack | None = None
        self._connection = f"{services.replica}-{os.getpid()}-{next(_connection_ids)}"
        self._nonces = itertools.count(1)
        self._hold: RouteHold | None = None
        self._first: Any = None
        self._served = False  # whether the class had a snapshot for this stream yet
        self._class_timer: asyncio.TimerHandle | None = None  # see _wait_for_class

    @property
    def identity(self) -> ProxyIdentity | None:
        """Who is connected (``None`` until the first request was read)."""
        return self._identity

    def notify(self) -> None:
        """The proxy's class changed: push soon (coalesced with other notices)."""
        if not self._change_pending:
            self._change_pending = True
            self._changed_at = time.monotonic()
            self._inbox.put_nowait(_Signal.CHANGED)

    def close(self) -> None:
        """End the stream after the item being processed."""
        self._inbox.put_nowait(_Signal.CLOSE)

    async def run(self, requests: AsyncIterator[Any]) -> None:
        """Serve the stream until the proxy hangs up or :meth:`close` is called.

        Raises :class:`~mizzen.xds.errors.InvalidNodeError` for a first request whose node
        cannot be served and :class:`~mizzen.store.StoreError` if the class cannot be
        requested; the caller maps them to gRPC status codes.
        """
        reading = asyncio.get_running_loop().create_task(self._read(requests))
        try:
            first = await self._inbox.get()
            if isinstance(first, str):
                return
            node = first.node
            identity = identify(node.id, json_format.MessageToDict(node.metadata),
                                locality_text(node.locality))  # fmt: skip
            await self._services.reader.request_class(identity.proxy_class)
            self._identity = identity
            # The first request (with the node and its metadata) is served from the inbox's
            # side, so that no frame of this long-lived stream keeps it.
            self._first, first = first, None
            with bound_log_context(proxy_id=identity.proxy_id, xds_class=identity.class_id):
                await self._serve(identity)
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading

    async def _read(self, requests: AsyncIterator[Any]) -> None:
        try:
            async for request in requests:
                self._inbox.put_nowait(request)
                del request  # not held until the next one (an ACK may name 1,000 resources)
        except Exception as exc:
            # The peer went away mid-read (reset, deadline): the stream is over either way.
            log.debug("ads stream read ended", error=repr(exc))
        finally:
            self._inbox.put_nowait(_Signal.END)

    async def _serve(self, identity: ProxyIdentity) -> None:
        services = self._services
        services.registry.add(identity.class_id, self)
        services.metrics.connected.labels(self._variant.protocol).inc()
        self._record_status()
        log.info(
            "proxy connected",
            node_id=identity.node_id,
            protocol=self._variant.protocol,
            proxy_type=identity.proxy_class.proxy_type.value,
            replica=services.replica,
        )
        reason = "proxy closed the stream"
        try:
            first, self._first = self._first, None
            await self._on_request(first)
            del first
            while True:
                item = await self._inbox.get()
                if not isinstance(item, str):
                    await self._on_request(item)
                    item = None  # not held while waiting for the next one
                elif item == _Signal.CHANGED:
                    self._change_pending = False
                    await self._push(None, started=self._changed_at)
                elif item == _Signal.HOLD_EXPIRED:
                    await self._on_hold_expired()
                elif item == _Signal.CLASS_CHECK:
                    await self._on_class_check()
                else:
                    if item == _Signal.CLOSE:
                        reason = "replica shutting down"
                    return
        finally:
            if self._class_timer is not None:
                self._class_timer.cancel()
            if self._hold is not None:
                self._hold.timer.cancel()
            services.registry.remove(identity.class_id, self)
            services.metrics.connected.labels(self._variant.protocol).dec()
            services.status.forget(identity.proxy_id, self._connection)
            log.info("proxy disconnected", reason=reason)

    async def _on_request(self, request: Any) -> None:
        started = time.monotonic()
        outcome = self._variant.on_request(request, self._states, time.time())
        metrics = self._services.metrics
        label = type_label(outcome.type_url)
        if outcome.nack is not None:
            nack = outcome.nack
            self._last_nack = nack
            metrics.nacks.labels(label).inc()
            log.warning("xds nack", type=label, type_url=nack.type_url, version=nack.version,
                        nonce=nack.nonce, error=nack.error, code=nack.code)  # fmt: skip
        elif outcome.acked:
            metrics.acks.labels(label).inc()
        if outcome.acked or outcome.nack is not None or outcome.subscribed:
            self._record_status()
        forced = {outcome.type_url} if outcome.force else set()
        hold = self._hold
        if (
            hold is not None
            and outcome.type_url == CLUSTER_TYPE
            and (outcome.acked or outcome.nack)
        ):
            # The clusters warmed (or were rejected: the last good ones stay): routes may go.
            self._end_hold(rejected=outcome.nack is not None)
            await self._push(None, started=hold.started, force=hold.forced | forced)
        elif outcome.respond:
            await self._push({outcome.type_url}, started=started, force=forced)

    def _end_hold(self, *, rejected: bool = False) -> None:
        assert self._hold is not None
        self._hold.timer.cancel()
        self._hold = None
        endpoints = self._states.get(ENDPOINT_TYPE)
        if rejected and endpoints is not None:
            # The proxy took none of the new clusters: it will not ask for their endpoints.
            endpoints.drop_presubscribed()

    def _wait_for_class(self) -> None:
        """Check again in ``class_wait_seconds`` whether the class has come: a request
        can be lost to a retirement racing it (the translator deleted the class just after
        this stream asked for it), and then nobody would translate it."""
        if self._class_timer is None:
            self._class_timer = asyncio.get_running_loop().call_later(
                self._services.class_wait_seconds, self._inbox.put_nowait, _Signal.CLASS_CHECK
            )

    async def _on_class_check(self) -> None:
        self._class_timer = None
        assert self._identity is not None
        if self._services.reader.class_resources(self._identity.class_id) is not None:
            return  # it came; the change signal pushes it
        log.warning("class still not translated: asking again",
                    seconds=self._services.class_wait_seconds)  # fmt: skip
        await self._services.reader.request_class(self._identity.proxy_class, force=True)
        self._wait_for_class()

    async def _on_hold_expired(self) -> None:
        hold = self._hold
        if hold is None or time.monotonic() < hold.deadline:
            return  # released meanwhile (a later hold has its own deadline)
        waited = time.monotonic() - hold.started
        log.warning("xds route hold expired", cds_nonce=hold.nonce, seconds=round(waited, 3))
        self._services.metrics.route_hold_timeouts.inc()
        self._end_hold()
        await self._push(None, started=hold.started, force=hold.forced)

    def _hold_routes(self, nonce: str, started: float) -> None:
        """Hold listeners, routes and removals until the clusters response ``nonce`` is
        ACKed; a hold already running waits for this later nonce, by its own deadline."""
        if self._hold is not None:
            self._hold.nonce = nonce
            return
        seconds = self._services.route_hold_seconds
        timer = asyncio.get_running_loop().call_later(
            seconds, self._inbox.put_nowait, _Signal.HOLD_EXPIRED
        )
        self._hold = RouteHold(nonce, started, time.monotonic() + seconds, timer)

    def _ordered_types(self) -> list[str]:
        return sorted(self._states, key=lambda url: (_ORDER.get(url, len(_ORDER)), url))

    async def _push(
        self, types: set[str] | None, *, started: float, force: Set[str] = frozenset()
    ) -> None:
        """Send what differs, for ``types`` (``None``: every subscribed type); the types in
        ``force`` are answered even if the proxy seems up to date. Listeners, routes and
        removals are held back while new clusters warm (see the module docstring)."""
        assert self._identity is not None  # set before any request is served
        self._services.heap.busy()
        available = self._services.reader.class_resources(self._identity.class_id)
        if available is None:
            log.debug("class not translated yet")
            if self._served:
                # Retired while this proxy was connected (the translator retires classes it
                # saw nobody use for a while): ask for it again.
                await self._services.reader.request_class(self._identity.proxy_class,
                                                          force=True)  # fmt: skip
            self._wait_for_class()
            return
        self._served = True
        if self._class_timer is not None:
            self._class_timer.cancel()
            self._class_timer = None
        plans: list[tuple[TypeState, Plan]] = []
        warming = False
        try:
            for type_url in self._ordered_types():
                state = self._states[type_url]
                if types is not None and type_url not in types and not state.resend:
                    continue
                plan = self._variant.plan(
                    state, available.get(type_url, _EMPTY), force=type_url in force,
                    memo=self._services.shared,
                )  # fmt: skip
                if type_url == CLUSTER_TYPE and plan.first is not None:
                    warming = await self._send_endpoints_of_warming_clusters(state, plan.first)
                if plan.responses:
                    plans.append((state, plan))
            if not plans:
                return
            hashes = {h for _, plan in plans for r in plan.responses for h in r.resources.values()}
            bodies = await self._services.reader.bodies(hashes)
        except MissingResourceError as exc:
            # Sending a partial state-of-the-world would remove what is missing: send nothing
            # now; the next snapshot change retries.
            log.error("xds push skipped", reason=str(exc), content_hash=exc.content_hash)
            self._services.metrics.stream_errors.labels("missing_resource").inc()
            return
        await self._send_planned(plans, bodies, started, force=force, warming=warming)

    async def _send_planned(
        self,
        plans: list[tuple[TypeState, Plan]],
        bodies: Mapping[str, bytes],
        started: float,
        *,
        force: Set[str],
        warming: bool,
    ) -> None:
        """Every first response in type order, then every last one; while a hold runs (or
        the clusters response starts one) listeners, routes and removals stay back."""
        for phase in ("first", "last"):
            for state, plan in plans:
                response = plan.first if phase == "first" else plan.last
                if response is None:
                    continue
                if self._hold is not None and (phase == "last" or response.type_url in HELD_TYPES):
                    if response.type_url in force:
                        self._hold.forced.add(response.type_url)
                    continue  # planned again on release
                await self._send(state, response, bodies, started)
                new_clusters = response.type_url == CLUSTER_TYPE and phase == "first"
                if new_clusters and (warming or self._hold is not None):
                    self._hold_routes(state.nonce, started)

    async def _send_endpoints_of_warming_clusters(
        self, clusters: TypeState, response: Response
    ) -> bool:
        """Mark the endpoints of every EDS cluster ``response`` adds or changes to be sent
        with it (presubscribing those of new clusters). Returns whether it adds or changes
        any cluster, i.e. whether the proxy will warm some."""
        known = clusters.known
        warming = [
            name
            for name, content_hash in response.resources.items()
            if known is None or known.get(name) != content_hash
        ]
        if not warming:
            return False
        endpoints = self._states.get(ENDPOINT_TYPE)
        if endpoints is None:
            return True  # the proxy asks for them as it warms the clusters: answered at once
        bodies = await self._services.reader.bodies(response.resources[n] for n in warming)
        services = (eds_service_name(bodies[response.resources[name]]) for name in warming)
        endpoints.presubscribe(service for service in services if service)
        return True

    async def _send(
        self, state: TypeState, response: Response, bodies: Mapping[str, bytes], started: float
    ) -> None:
        variant, replica = self._variant, self._services.replica
        if response.shared and response.version != state.version:
            # Every stream of the class moving to this version gets these very bytes (see
            # mizzen.xds.api.encoded for why its nonce is safe to share).
            nonce, data = self._services.responses.get(
                variant.protocol, response,
                lambda shared_nonce: variant.encode(response, bodies, shared_nonce, replica),
            )  # fmt: skip
        else:
            nonce = f"{next(self._nonces)}"
            data = variant.encode(response, bodies, nonce, replica)
        await self._write(data)
        state.record_sent(response.known_after, response.version, nonce, response.resources.keys())
        label = type_label(response.type_url)
        metrics = self._services.metrics
        metrics.pushes.labels(label).inc()
        metrics.push_seconds.labels(label).observe(time.monotonic() - started)
        log.debug("xds response sent", type=label, version=response.version, nonce=nonce,
                  resources=len(response.resources), removed=len(response.removed))  # fmt: skip

    def _record_status(self) -> None:
        identity = self._identity
        assert identity is not None  # statuses are recorded once the proxy is identified
        status = ProxyStatus(
            proxy_id=identity.proxy_id,
            node_id=identity.node_id,
            class_id=identity.class_id,
            replica=self._services.replica,
            connection=self._connection,
            protocol=self._variant.protocol,
            connected_at=format_time(self._connected_at),
            types=MappingProxyType(
                {
                    url: TypeStatus(s.version, s.nonce, s.acked_version, s.acked_nonce, s.nacked)
                    for url, s in self._states.items()
                }
            ),
            last_nack=_nack_record(self._last_nack),
        )
        self._services.status.record(status)


def _nack_record(nack: Nack | None) -> NackRecord | None:
    if nack is None:
        return None
    return NackRecord(nack.type_url, nack.version, nack.nonce, nack.error, format_time(nack.at))
