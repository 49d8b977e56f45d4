"""Real Envoy on one xds replica: served, follows changes, never stalls, survives a NACK.

Each test runs in both protocol variants (state of the world and delta).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from google.protobuf import duration_pb2

from mizzen.envoy import CLUSTER_TYPE, AdsMode
from mizzen.launcher import EnvoyProcess
from mizzen.snapshots.status import ProxyStatus
from mizzen.testing import wait_for
from mizzen.xds.testing import (
    Mesh,
    ProxyUnderTest,
    Upstream,
    active_cluster,
    assignment,
    eds_cluster,
    fetch,
    fetch_or_none,
    http_listener,
    metric,
    route_to,
    synced,
)

MODES = [
    pytest.param(AdsMode.STATE_OF_THE_WORLD, id="sotw"),
    pytest.param(AdsMode.DELTA, id="delta"),
]


@pytest.mark.parametrize("mode", MODES)
async def test_envoy_is_served_follows_changes_and_never_stalls(
    mode: AdsMode, mesh: Mesh, upstreams: Callable[[str], Awaitable[Upstream]]
) -> None:
    a, b = await upstreams("a"), await upstreams("b")
    proxy = ProxyUnderTest("web")
    port = mesh.ports.take()
    clusters = [eds_cluster("a"), eds_cluster("b")]
    endpoints = [assignment("a", a.port), assignment("b", b.port)]
    listener = http_listener("web", port, "http")
    await mesh.snapshots.write(
        proxy.class_id, [*clusters, *endpoints, listener, route_to("http", "a")]
    )
    xds = await mesh.xds_factory("xds-a")
    envoy = await mesh.envoy(proxy, [xds], mode)

    assert await fetch(port) == "a"
    status = await wait_for(
        lambda: synced(mesh, proxy), timeout=5, message="proxy status with 4 types ACKed"
    )
    assert status.replica == "xds-a"
    assert status.class_id == proxy.class_id
    assert status.protocol == ("sotw" if mode is AdsMode.STATE_OF_THE_WORLD else "delta")
    assert status.last_nack is None
    assert await metric(xds, "mizzen_xds_connected_proxies") == 1

    # A route change is visible in traffic within a second, without a restart.
    await mesh.snapshots.write(
        proxy.class_id, [*clusters, *endpoints, listener, route_to("http", "b")]
    )
    changed = time.monotonic()
    await wait_for(lambda: _answers(port, "b"), timeout=1.0, message="traffic moved to b")
    assert time.monotonic() - changed < 1.0

    # Changing a cluster Envoy uses makes it re-warm the cluster and wait for its endpoints,
    # which did not change: the server must send them again, or the update takes 15 s.
    slower = [eds_cluster("a"), eds_cluster("b", connect_timeout=2.0)]
    await mesh.snapshots.write(
        proxy.class_id, [*slower, *endpoints, listener, route_to("http", "b")]
    )
    changed = time.monotonic()
    await wait_for(
        lambda: _cluster_has(envoy, "b", connect_timeout="2s"),
        timeout=3.0, message="cluster b updated and warmed",
    )  # fmt: skip
    assert time.monotonic() - changed < 3.0
    assert await fetch(port) == "b"
    assert not (await envoy.config_dump("dynamic_warming_clusters")).get("configs")


@pytest.mark.expect_nacks
@pytest.mark.parametrize("mode", MODES)
async def test_a_rejected_resource_is_reported_and_the_last_good_config_serves(
    mode: AdsMode, mesh: Mesh, upstreams: Callable[[str], Awaitable[Upstream]]
) -> None:
    a = await upstreams("a")
    proxy = ProxyUnderTest("shop")
    port = mesh.ports.take()
    good = [eds_cluster("a"), assignment("a", a.port), http_listener("shop", port, "http"),
            route_to("http", "a")]  # fmt: skip
    await mesh.snapshots.write(proxy.class_id, good)
    xds = await mesh.xds_factory("xds-a")
    envoy = await mesh.envoy(proxy, [xds], mode)
    assert await fetch(port) == "a"
    await wait_for(lambda: synced(mesh, proxy), timeout=5, message="synced")

    # A cluster Envoy refuses (a negative connect timeout fails its proto validation).
    bad = cluster_pb2.Cluster(
        name="bad", type=cluster_pb2.Cluster.STATIC,
        connect_timeout=duration_pb2.Duration(seconds=-1),
    )  # fmt: skip
    await mesh.snapshots.write(proxy.class_id, [*good, bad])

    status = await wait_for(lambda: _nacked(mesh, proxy), timeout=5, message="NACK in status")
    assert status.last_nack is not None
    assert status.last_nack.type_url == CLUSTER_TYPE
    assert status.last_nack.error, "the proxy's error text is kept"
    assert status.types[CLUSTER_TYPE].nacked
    assert status.types[CLUSTER_TYPE].acked_version != status.types[CLUSTER_TYPE].sent_version
    assert await metric(xds, "mizzen_xds_nacks_total", type="CDS") == 1
    assert (await envoy.stats())["cluster_manager.cds.update_rejected"] >= 1
    # The last good configuration keeps serving.
    assert await fetch(port) == "a"
    assert await active_cluster(envoy, "bad") is None

    # Fixing it is accepted, and the status says so.
    await mesh.snapshots.write(proxy.class_id, good)
    fixed = await wait_for(lambda: synced(mesh, proxy), timeout=5, message="synced again")
    assert not fixed.types[CLUSTER_TYPE].nacked
    assert await fetch(port) == "a"

    # A proxy that goes away takes its status with it.
    await envoy.stop()
    await wait_for(lambda: _gone(mesh, proxy), timeout=2, message="status deleted")


async def _answers(port: int, body: str) -> bool:
    return await fetch_or_none(port) == body


async def _cluster_has(envoy: EnvoyProcess, name: str, connect_timeout: str) -> bool:
    cluster = await active_cluster(envoy, name)
    return cluster is not None and cluster.get("connect_timeout") == connect_timeout


async def _gone(mesh: Mesh, proxy: ProxyUnderTest) -> bool:
    return await mesh.status(proxy) is None


async def _nacked(mesh: Mesh, proxy: ProxyUnderTest) -> ProxyStatus | None:
    status = await mesh.status(proxy)
    return status if status is not None and status.last_nack is not None else None
