"""Locality-aware load balancing with real traffic.

Two endpoints of ``echo`` in two zones of one region (``echo-z1`` in ``region-1/zone-1``,
``echo-z2`` in ``region-1/zone-2``, set with ``mizzen workload run --locality``) and a client
in ``region-1/zone-1``. A DestinationRule's ``localityLbSetting.distribute`` splits the
client's traffic between the zones; with outlier detection, the client's own zone gets all
of it until its endpoint is ejected, then the other zone takes over (failover).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
import pytest_asyncio

from mizzen.testing import wait_for
from mizzen.testing.mesh import (
    HttpResponse,
    Mesh,
    Workload,
    binomial_bounds,
    gather_limited,
    served_by,
    via_proxy,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.usefixtures("mesh_guard")]

ECHO_URL = "http://echo:9080"
ECHO_CLUSTER = "outbound|9080||echo.default.svc.cluster.local"


@dataclass(frozen=True)
class Zones:
    """The module's workloads."""

    near: Workload
    far: Workload
    client: Workload


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def zones(mesh: Mesh) -> Zones:
    near, far, client = await asyncio.gather(
        mesh.workload("echo-z1", labels={"app": "echo"}, flags=["--locality", "region-1/zone-1"]),
        mesh.workload("echo-z2", labels={"app": "echo"}, flags=["--locality", "region-1/zone-2"]),
        mesh.workload("zone-client", service=None, labels={"app": "zone-client"},
                      flags=["--locality", "region-1/zone-1"]),
    )  # fmt: skip
    return Zones(near, far, client)


async def send(client: Workload, path: str, count: int) -> list[HttpResponse]:
    """``count`` GETs of ``ECHO_URL + path`` through ``client``'s Envoy, 8 at a time."""
    return await gather_limited(count, lambda _: via_proxy(client, ECHO_URL + path))


async def weights_in_effect(mesh: Mesh, client: Workload, expected: dict[str, int]) -> bool:
    """Whether ``client``'s Envoy balances ``echo`` by locality with the ``expected`` weights
    per zone, and has acknowledged everything xds sent it (so nothing rebuilds its load
    balancer while traffic is measured)."""
    cluster = (await client.clusters()).get(ECHO_CLUSTER, {})
    if "locality_weighted_lb_config" not in cluster.get("common_lb_config", {}):
        return False
    weights = {
        group.get("locality", {}).get("zone", ""): group.get("load_balancing_weight")
        for config in await client.config_dump("dynamic_endpoint_configs&include_eds")
        if config.get("endpoint_config", {}).get("cluster_name") == ECHO_CLUSTER
        for group in config["endpoint_config"].get("endpoints", [])
    }
    if weights != expected:
        return False
    status = (await mesh.proxy_statuses()).get(f"{client.name}.{client.namespace}")
    return status is not None and all(
        t["ackedVersion"] == t["sentVersion"] for t in status["types"].values()
    )


async def test_distribute_splits_traffic_between_zones(mesh: Mesh, zones: Zones) -> None:
    await mesh.apply("""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy:
    loadBalancer:
      localityLbSetting:
        distribute:
        - from: region-1/zone-1/*
          to: {"region-1/zone-1/*": 20, "region-1/zone-2/*": 80}
""")

    await wait_for(lambda: weights_in_effect(mesh, zones.client, {"zone-1": 20, "zone-2": 80}),
                   timeout=15, message="the distribution in effect")  # fmt: skip
    counts = served_by(await send(zones.client, "/distributed", 400))
    assert set(counts) == {"echo-z1", "echo-z2"}, counts
    low, high = binomial_bounds(400, 0.8)
    assert low <= counts["echo-z2"] <= high, counts


async def test_failover_keeps_traffic_in_the_zone_until_it_fails(mesh: Mesh, zones: Zones) -> None:
    await mesh.apply("""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: 2
      interval: 1s
      baseEjectionTime: 60s
      maxEjectionPercent: 100
""")

    async def local_only() -> bool:
        return served_by(await send(zones.client, "/probe", 20)) == {"echo-z1": 20}

    await wait_for(local_only, timeout=15, message="traffic kept in zone-1")
    assert served_by(await send(zones.client, "/local", 100)) == {"echo-z1": 100}
    # zone-1's endpoint fails: after two 503s (attempts of one request: Istio's default
    # retries) outlier detection ejects it, and zone-2 serves from then on (the request's
    # last retry already lands there).
    failing = await send(zones.client, "/status/503", 2)
    assert {r.status for r in failing} == {503}

    async def failed_over() -> bool:
        return served_by(await send(zones.client, "/probe", 10)) == {"echo-z2": 10}

    await wait_for(failed_over, timeout=15, message="traffic failing over to zone-2")
    assert served_by(await send(zones.client, "/after", 50)) == {"echo-z2": 50}
