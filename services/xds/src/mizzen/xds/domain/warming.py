"""Cluster warming, as the stream core sees it: which EDS resource a cluster uses, and what
is held back while the clusters a push adds or changes warm (see :mod:`mizzen.xds.api.stream`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from envoy.config.cluster.v3 import cluster_pb2
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError

from mizzen.envoy import LISTENER_TYPE, ROUTE_TYPE

HELD_TYPES: frozenset[str] = frozenset({LISTENER_TYPE, ROUTE_TYPE})
"""Types whose updates wait for warm clusters (removals of every type wait too)."""


@dataclass(slots=True)
class RouteHold:
    """Listeners, routes and removals held back until the proxy ACKs (or NACKs) the clusters
    response ``nonce`` (the latest), or until ``deadline`` (monotonic); ``forced`` are the
    types a repeated request asked for meanwhile (answered on release even if unchanged)."""

    nonce: str
    started: float
    deadline: float
    timer: asyncio.TimerHandle
    forced: set[str] = field(default_factory=set)


def eds_service_name(body: bytes) -> str:
    """The EDS resource name of the cluster packed in ``body``; empty if the cluster does not
    use EDS (or the bytes are not a cluster)."""
    try:
        cluster = cluster_pb2.Cluster.FromString(any_pb2.Any.FromString(body).value)
    except DecodeError:
        return ""
    if cluster.WhichOneof("cluster_discovery_type") != "type":
        return ""
    if cluster.type != cluster_pb2.Cluster.EDS:
        return ""
    service: str = cluster.eds_cluster_config.service_name or cluster.name
    return service
