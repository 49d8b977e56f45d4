"""Routes wait for the clusters they use to warm: one snapshot write that adds EDS clusters
and a route to them drops no request (real Envoy, both protocol variants), and a proxy that
never acknowledges the clusters gets its routes at the deadline (raw client)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
from envoy.config.core.v3 import base_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.route.v3 import route_pb2
from envoy.service.discovery.v3 import ads_pb2_grpc, discovery_pb2
from google.protobuf import struct_pb2
from google.protobuf.message import Message
from grpc import aio

from mizzen.envoy import CLUSTER_TYPE, ENDPOINT_TYPE, ROUTE_TYPE, AdsMode
from mizzen.launcher import EnvoyProcess, ServiceProcess
from mizzen.launcher.probe import http_get
from mizzen.snapshots import ProxyClass, ProxyType
from mizzen.testing import wait_for
from mizzen.xds.testing import (
    ROUTE_HOLD,
    Mesh,
    ProxyUnderTest,
    Upstream,
    assignment,
    eds_cluster,
    fetch,
    fetch_or_none,
    http_listener,
    metric,
    route_to,
)

MODES = [
    pytest.param(AdsMode.STATE_OF_THE_WORLD, id="sotw"),
    pytest.param(AdsMode.DELTA, id="delta"),
]
ROUNDS = 5


@pytest.mark.parametrize("mode", MODES)
async def test_a_route_to_new_clusters_pushed_with_them_drops_no_request(
    mode: AdsMode, mesh: Mesh, upstreams: Callable[[str], Awaitable[Upstream]]
) -> None:
    """Each round adds a new EDS cluster and moves the route to it in one snapshot write,
    while requests flow: every request must succeed, and no hold may run to its deadline."""
    upstream = await upstreams("up")
    proxy = ProxyUnderTest("warm")
    port = mesh.ports.take()
    listener = http_listener("warm", port, "http")

    def snapshot(current: str, previous: str | None) -> list[Message]:
        names = [current] if previous is None else [previous, current]
        return [
            *(eds_cluster(n) for n in names),
            *(assignment(n, upstream.port) for n in names),
            listener,
            route_to("http", current),
        ]

    await mesh.snapshots.write(proxy.class_id, snapshot("c0", None))
    xds = await mesh.xds_factory("xds-a")
    envoy = await mesh.envoy(proxy, [xds], mode)
    assert await fetch(port) == "up"

    statuses: list[int] = []
    stop = asyncio.Event()

    async def pump() -> None:
        while not stop.is_set():
            try:
                status, _ = await http_get("127.0.0.1", port, "/", timeout=2.0)
            except (OSError, TimeoutError, ValueError):
                status = 0
            statuses.append(status)

    pumps = [asyncio.create_task(pump()) for _ in range(2)]
    try:
        for step in range(1, ROUNDS + 1):
            previous, current = f"c{step - 1}", f"c{step}"
            sent = len(statuses)
            await mesh.snapshots.write(proxy.class_id, snapshot(current, previous))
            await wait_for(
                functools.partial(_routes_to, envoy, current),
                timeout=ROUTE_HOLD, message=f"route to {current} applied",
            )  # fmt: skip
            # Some requests must have gone through while the change was being applied.
            enough = functools.partial(_more, statuses, sent + 4)
            await wait_for(enough, timeout=2, message="traffic")
    finally:
        stop.set()
        await asyncio.gather(*pumps)
    failed = [s for s in statuses if s != 200]
    assert not failed, f"{len(failed)} of {len(statuses)} requests failed: {set(failed)}"
    assert await fetch_or_none(port) == "up"
    assert await metric(xds, "mizzen_xds_route_hold_timeouts_total") == 0


async def _routes_to(envoy: EnvoyProcess, name: str) -> bool:
    dump = await envoy.config_dump("dynamic_route_configs")
    return f"'cluster': '{name}'" in str(dump)


async def _more(statuses: list[int], count: int) -> bool:
    return len(statuses) >= count


# -- the deadline, with a raw client that ACKs only when told to ---------------------------


@pytest_asyncio.fixture
async def xds(mesh: Mesh) -> ServiceProcess:
    return await mesh.xds_factory("xds-a")


@pytest_asyncio.fixture
async def ads(xds: ServiceProcess) -> AsyncIterator[ads_pb2_grpc.AggregatedDiscoveryServiceStub]:
    async with aio.insecure_channel(xds.grpc_target) as channel:
        yield ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel)


class _RawClient:
    """A state-of-the-world client that ACKs only when told to; responses are timestamped
    as they arrive."""

    def __init__(self, ads: ads_pb2_grpc.AggregatedDiscoveryServiceStub) -> None:
        metadata = struct_pb2.Struct()
        metadata.update({"NAMESPACE": "shop"})
        self._node: base_pb2.Node | None = base_pb2.Node(
            id="sidecar~127.0.0.9~pay-1.shop~shop.svc.cluster.local", metadata=metadata
        )
        self._call = ads.StreamAggregatedResources()
        self._responses: asyncio.Queue[tuple[discovery_pb2.DiscoveryResponse, float]] = (
            asyncio.Queue()
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for response in self._call:
            self._responses.put_nowait((response, time.monotonic()))

    async def next(self, type_url: str) -> tuple[discovery_pb2.DiscoveryResponse, float]:
        response, at = await asyncio.wait_for(self._responses.get(), timeout=ROUTE_HOLD + 3)
        assert response.type_url == type_url
        return response, at

    async def request(
        self, type_url: str, names: list[str], ack: discovery_pb2.DiscoveryResponse | None = None
    ) -> None:
        node, self._node = self._node, None
        await self._call.write(discovery_pb2.DiscoveryRequest(
            node=node, type_url=type_url, resource_names=names,
            version_info=ack.version_info if ack else "", response_nonce=ack.nonce if ack else "",
        ))  # fmt: skip

    async def close(self) -> None:
        self._call.cancel()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, aio.AioRpcError):
            await self._reader


async def test_routes_wait_for_the_clusters_ack_at_most_until_the_deadline(
    mesh: Mesh, xds: ServiceProcess, ads: ads_pb2_grpc.AggregatedDiscoveryServiceStub
) -> None:
    """A new cluster goes out with its endpoints (before the client asks for them); the route
    using it follows the client's CDS ACK at once, or without one, at the deadline."""
    proxy_class = ProxyClass.from_node_metadata(ProxyType.SIDECAR, {"NAMESPACE": "shop"})

    def snapshot(*names: str) -> list[Message]:
        return [*(eds_cluster(n) for n in names), *(assignment(n, 9) for n in names),
                route_to("http", names[-1])]  # fmt: skip

    await mesh.snapshots.write(proxy_class.class_id, snapshot("a"))
    client = _RawClient(ads)
    try:
        await client.request(CLUSTER_TYPE, [])
        clusters, _ = await client.next(CLUSTER_TYPE)
        await client.request(CLUSTER_TYPE, [], clusters)
        await client.request(ENDPOINT_TYPE, ["a"])
        endpoints, _ = await client.next(ENDPOINT_TYPE)
        await client.request(ENDPOINT_TYPE, ["a"], endpoints)
        await client.request(ROUTE_TYPE, ["http"])
        routes, _ = await client.next(ROUTE_TYPE)
        await client.request(ROUTE_TYPE, ["http"], routes)

        # Cluster b and a route to it: b's endpoints come right after the clusters, unasked.
        await mesh.snapshots.write(proxy_class.class_id, snapshot("a", "b"))
        clusters, _ = await client.next(CLUSTER_TYPE)
        endpoints, _ = await client.next(ENDPOINT_TYPE)
        # Only what the client lacks: a state-of-the-world EDS response leaves the endpoints
        # it omits unchanged.
        assert sorted(_cla_names(endpoints)) == ["b"]
        await client.request(ENDPOINT_TYPE, ["a", "b"], endpoints)
        # The route waits for the clusters' ACK, and follows it at once.
        acked = time.monotonic()
        await client.request(CLUSTER_TYPE, [], clusters)
        routes, at = await client.next(ROUTE_TYPE)
        assert at - acked < ROUTE_HOLD / 2
        assert _route_cluster(routes) == "b"
        await client.request(ROUTE_TYPE, ["http"], routes)

        # Cluster c, never acknowledged: the route goes out at the deadline, counted.
        await mesh.snapshots.write(proxy_class.class_id, snapshot("a", "b", "c"))
        clusters, sent = await client.next(CLUSTER_TYPE)
        endpoints, _ = await client.next(ENDPOINT_TYPE)
        assert sorted(_cla_names(endpoints)) == ["c"]
        routes, at = await client.next(ROUTE_TYPE)
        assert at - sent >= ROUTE_HOLD * 0.9, "the route did not wait for the clusters"
        assert _route_cluster(routes) == "c"
        assert await metric(xds, "mizzen_xds_route_hold_timeouts_total") == 1
    finally:
        await client.close()


def _route_cluster(response: discovery_pb2.DiscoveryResponse) -> str:
    route = route_pb2.RouteConfiguration.FromString(response.resources[0].value)
    cluster: str = route.virtual_hosts[0].routes[0].route.cluster
    return cluster


def _cla_names(response: discovery_pb2.DiscoveryResponse) -> list[str]:
    return [
        endpoint_pb2.ClusterLoadAssignment.FromString(r.value).cluster_name
        for r in response.resources
    ]
