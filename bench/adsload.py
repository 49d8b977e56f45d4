"""Simulated ADS clients: each speaks the protocol the way an Envoy sidecar does, and ACKs.

Like Istio's pilot-load, a simulated proxy opens one ADS stream with its own node (Istio's node
id and the sidecar metadata an agent would send), subscribes to clusters and listeners with a
wildcard, then to the endpoints and route configurations named by what it received, and ACKs
every response. It parses only what it must to know those names, and caches what it derived by
the response's version (equal versions carry equal content: xds versions are content hashes),
so that a thousand proxies of ten classes parse ten copies, not a thousand.

Both protocol variants: state of the world (:class:`SotwProxy`) and delta
(:class:`DeltaProxy`). Neither reconnects: a broken stream is recorded as the proxy's error
(a benchmark wants to see it, not hide it).

Measurements: every ACK is timestamped with ``time.monotonic()`` (CLOCK_MONOTONIC, the same
clock in every process of the machine) just before it is written. After :meth:`arm` the proxy
counts the responses it receives, the time of its last ACK, and the time of its ACK of the
first response whose bytes contain the marker (a token the benchmark puts into the changed
VirtualService; protobuf stores strings verbatim, so a byte search finds it without parsing).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2 as hcm_pb2,
)
from envoy.service.discovery.v3 import discovery_pb2
from google.protobuf import struct_pb2
from grpc import aio

from mizzen.envoy import CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE

SOTW_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"
DELTA_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources"
TYPES = (CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE)
_HCM_TYPE = "type.googleapis.com/" + hcm_pb2.HttpConnectionManager.DESCRIPTOR.full_name


def _raw(data: bytes) -> bytes:
    return data


@dataclass(frozen=True, slots=True)
class ProxyNode:
    """Who a simulated proxy is: its node id, its proxy id (``<pod>.<namespace>``), the
    workload it is a replica of and its node metadata (JSON-ready values)."""

    node_id: str
    proxy_id: str
    workload: str
    metadata: dict[str, Any]

    def to_pb(self) -> base_pb2.Node:
        """The ``Node`` sent in the first request of the stream."""
        meta = struct_pb2.Struct()
        meta.update(self.metadata)
        cluster = f"{self.metadata.get('LABELS', {}).get('app', self.workload)}."
        cluster += str(self.metadata.get("NAMESPACE", "default"))
        return base_pb2.Node(id=self.node_id, cluster=cluster, metadata=meta)


# -- what a proxy derives from the resources it receives ----------------------------------


def eds_service_of(any_value: bytes) -> str:
    """The EDS name of a packed cluster's ``value`` bytes; empty unless it is an EDS cluster."""
    cluster = cluster_pb2.Cluster.FromString(any_value)
    if cluster.WhichOneof("cluster_discovery_type") != "type":
        return ""
    if cluster.type != cluster_pb2.Cluster.EDS:
        return ""
    name: str = cluster.eds_cluster_config.service_name or cluster.name
    return name


def rds_names_of(any_value: bytes) -> list[str]:
    """The route configuration names a packed listener's HTTP connection managers use."""
    listener = listener_pb2.Listener.FromString(any_value)
    names: list[str] = []
    for chain in [*listener.filter_chains, listener.default_filter_chain]:
        for network_filter in chain.filters:
            typed = network_filter.typed_config
            if typed.type_url != _HCM_TYPE:
                continue
            manager = hcm_pb2.HttpConnectionManager.FromString(typed.value)
            if manager.WhichOneof("route_specifier") == "rds":
                names.append(manager.rds.route_config_name)
    return names


class DerivedNames:
    """What responses imply, cached: the EDS names of a CDS response, the RDS names of an LDS
    response, the resource names of an EDS/RDS response. State-of-the-world entries are keyed
    by ``(type URL, version, resource sizes)``; delta entries by ``(type URL, resource name,
    version)``.
    Shared by every proxy of one load generator (one event loop, no locking)."""

    def __init__(self) -> None:
        self._sotw: dict[tuple[str, str, tuple[int, ...]], frozenset[str]] = {}
        self._delta: dict[tuple[str, str, str], tuple[str, ...]] = {}
        self.misses = 0

    def sotw(self, response: Any) -> frozenset[str]:
        """For CDS the EDS names, for LDS the RDS names, else the names of the resources."""
        # The version names the whole state; a route or endpoint response may carry a part of
        # it (what changed), so its shape is part of the key.
        shape = tuple(len(r.value) for r in response.resources)
        key = (response.type_url, response.version_info, shape)
        found = self._sotw.get(key)
        if found is None:
            self.misses += 1
            found = frozenset(self._derive_sotw(response.type_url, response.resources))
            self._sotw[key] = found
        return found

    @staticmethod
    def _derive_sotw(type_url: str, resources: Iterable[Any]) -> Iterable[str]:
        if type_url == CLUSTER_TYPE:
            return {name for r in resources if (name := eds_service_of(r.value))}
        if type_url == LISTENER_TYPE:
            return {name for r in resources for name in rds_names_of(r.value)}
        if type_url == ENDPOINT_TYPE:
            return {endpoint_pb2.ClusterLoadAssignment.FromString(r.value).cluster_name
                    for r in resources}  # fmt: skip
        if type_url == ROUTE_TYPE:
            return {route_pb2.RouteConfiguration.FromString(r.value).name for r in resources}
        return ()

    def delta(self, type_url: str, resource: Any) -> tuple[str, ...]:
        """For a delta CDS resource its EDS name (or nothing), for LDS its RDS names."""
        key = (type_url, resource.name, resource.version)
        found = self._delta.get(key)
        if found is None:
            self.misses += 1
            value = resource.resource.value
            if type_url == CLUSTER_TYPE:
                found = tuple(n for n in (eds_service_of(value),) if n)
            else:
                found = tuple(rds_names_of(value))
            self._delta[key] = found
        return found


# -- one simulated proxy ---------------------------------------------------------------------


@dataclass(slots=True)
class Measure:
    """What a proxy saw since it was armed (see the module docstring)."""

    marker: bytes = b""
    armed_at: float = 0.0
    responses: int = 0
    received_bytes: int = 0
    last_ack: float = 0.0
    marker_ack: float = 0.0


@dataclass(slots=True)
class _TypeState:
    names: frozenset[str] = frozenset()
    """Subscribed names (EDS/RDS); wildcard types keep it empty."""
    held: frozenset[str] = frozenset()
    """Names of the resources held (EDS/RDS)."""
    version: str = ""
    nonce: str = ""
    answered: bool = False


@dataclass(eq=False)
class SimulatedProxy:
    """One ADS stream (see the module docstring). Subclasses speak one protocol variant.

    :meth:`run` serves the stream until it ends or is cancelled; everything else is read
    by the load generator from the same event loop."""

    node: ProxyNode
    names: DerivedNames
    measure: Measure = field(default_factory=Measure)
    states: dict[str, _TypeState] = field(default_factory=lambda: {t: _TypeState() for t in TYPES})
    error: str = ""
    open: bool = False
    first_ack: float = 0.0
    """When the proxy first held a complete initial config (monotonic), 0 until then."""

    @property
    def complete(self) -> bool:
        """Whether every type was answered and every subscribed EDS/RDS name is held, as an
        Envoy needs before its clusters and listeners leave warming."""
        eds, rds = self.states[ENDPOINT_TYPE], self.states[ROUTE_TYPE]
        return (
            all(s.answered for s in self.states.values())
            and eds.names <= eds.held
            and rds.names <= rds.held
        )

    def arm(self, marker: bytes) -> None:
        """Start measuring for a change whose resources carry ``marker``."""
        self.measure = Measure(marker=marker, armed_at=time.monotonic())

    async def run(self, channel: aio.Channel) -> None:
        """Serve the stream; records an error instead of raising (cancellation aside)."""
        try:
            await self._run(channel)
            self.error = self.error or "stream ended by the server"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            self.open = False

    async def _run(self, channel: aio.Channel) -> None:
        raise NotImplementedError

    def _acked(self, raw: bytes) -> float:
        """Timestamp an ACK about to be written for the response ``raw``."""
        now = time.monotonic()
        measure = self.measure
        if measure.armed_at:
            measure.responses += 1
            measure.received_bytes += len(raw)
            measure.last_ack = now
            if not measure.marker_ack and measure.marker in raw:
                measure.marker_ack = now
        if not self.first_ack and self.complete:
            self.first_ack = now
        return now


class SotwProxy(SimulatedProxy):
    """State of the world: requests carry the full name list; an ACK repeats the version and
    nonce of the response it accepts."""

    async def _run(self, channel: aio.Channel) -> None:
        call = channel.stream_stream(
            SOTW_METHOD,
            request_serializer=discovery_pb2.DiscoveryRequest.SerializeToString,
            response_deserializer=_raw,
        )()
        Request = discovery_pb2.DiscoveryRequest
        await call.write(Request(node=self.node.to_pb(), type_url=CLUSTER_TYPE))
        self.open = True
        while True:
            raw = await call.read()
            if raw is aio.EOF:
                return
            response = discovery_pb2.DiscoveryResponse.FromString(raw)
            type_url = response.type_url
            state = self.states.get(type_url)
            if state is None:
                continue  # a type we never asked for: Envoy would ignore it too
            first = not state.answered
            state.version, state.nonce, state.answered = (
                response.version_info, response.nonce, True)  # fmt: skip
            follow: list[Any] = []
            if type_url in (CLUSTER_TYPE, LISTENER_TYPE):
                child_type = ENDPOINT_TYPE if type_url == CLUSTER_TYPE else ROUTE_TYPE
                wanted = self.names.sotw(response)
                child = self.states[child_type]
                if wanted != child.names:
                    child.names = wanted
                    follow.append(Request(type_url=child_type, version_info=child.version,
                                          response_nonce=child.nonce,
                                          resource_names=sorted(wanted)))  # fmt: skip
                if first and type_url == CLUSTER_TYPE:
                    follow.append(Request(type_url=LISTENER_TYPE))
            else:
                # Routes and endpoints: a response carries what changed; the rest is kept.
                state.held = (state.held | self.names.sotw(response)) & state.names
            ack = Request(type_url=type_url, version_info=response.version_info,
                          response_nonce=response.nonce,
                          resource_names=sorted(state.names))  # fmt: skip
            self._acked(raw)
            await call.write(ack)
            for request in follow:
                await call.write(request)


class DeltaProxy(SimulatedProxy):
    """Delta: wildcard by an empty first request; subscriptions change by name; an ACK is a
    request carrying the response's nonce."""

    async def _run(self, channel: aio.Channel) -> None:
        call = channel.stream_stream(
            DELTA_METHOD,
            request_serializer=discovery_pb2.DeltaDiscoveryRequest.SerializeToString,
            response_deserializer=_raw,
        )()
        Request = discovery_pb2.DeltaDiscoveryRequest
        await call.write(Request(node=self.node.to_pb(), type_url=CLUSTER_TYPE))
        self.open = True
        derived: dict[str, dict[str, tuple[str, ...]]] = {CLUSTER_TYPE: {}, LISTENER_TYPE: {}}
        while True:
            raw = await call.read()
            if raw is aio.EOF:
                return
            response = discovery_pb2.DeltaDiscoveryResponse.FromString(raw)
            type_url = response.type_url
            state = self.states.get(type_url)
            if state is None:
                continue
            first = not state.answered
            state.nonce, state.answered = response.nonce, True
            follow: list[Any] = []
            if type_url in derived:
                by_name = derived[type_url]
                for name in response.removed_resources:
                    by_name.pop(name, None)
                for resource in response.resources:
                    by_name[resource.name] = self.names.delta(type_url, resource)
                child_type = ENDPOINT_TYPE if type_url == CLUSTER_TYPE else ROUTE_TYPE
                child = self.states[child_type]
                wanted = frozenset(n for names in by_name.values() for n in names)
                if wanted != child.names:
                    added, gone = sorted(wanted - child.names), sorted(child.names - wanted)
                    child.names = wanted
                    child.held = child.held - set(gone)
                    follow.append(Request(type_url=child_type, resource_names_subscribe=added,
                                          resource_names_unsubscribe=gone))  # fmt: skip
                if first and type_url == CLUSTER_TYPE:
                    follow.append(Request(type_url=LISTENER_TYPE))
            else:
                held = set(state.held)
                held.difference_update(response.removed_resources)
                held.update(r.name for r in response.resources)
                state.held = frozenset(held)
            ack = Request(type_url=type_url, response_nonce=response.nonce)
            self._acked(raw)
            await call.write(ack)
            for request in follow:
                await call.write(request)
