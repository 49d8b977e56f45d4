"""Two xds replicas: losing the one Envoy uses moves it to the other without a failed
request or a resent resource; a dead replica's proxy status expires with its lease."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import pytest

from mizzen.envoy import CLUSTER_TYPE, AdsMode
from mizzen.snapshots.status import ProxyStatus
from mizzen.testing import wait_for
from mizzen.xds.testing import (
    STATUS_TTL,
    Mesh,
    ProxyUnderTest,
    Upstream,
    assignment,
    eds_cluster,
    fetch,
    http_listener,
    metric,
    route_to,
    synced,
)

MODES = [
    pytest.param(AdsMode.STATE_OF_THE_WORLD, id="sotw"),
    pytest.param(AdsMode.DELTA, id="delta"),
]


class Load:
    """Requests through an Envoy listener, one after another, until stopped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ok = 0
        self.failures: list[str] = []
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        while not self._stopped.is_set():
            try:
                body = await fetch(self.port)
            except (AssertionError, OSError, TimeoutError, ValueError) as exc:
                self.failures.append(repr(exc))
                continue
            if body == "a":
                self.ok += 1
            else:
                self.failures.append(f"unexpected body {body!r}")

    def stop(self) -> None:
        self._stopped.set()


@pytest.mark.parametrize("mode", MODES)
async def test_a_proxy_moves_to_another_replica_without_failures_or_resends(
    mode: AdsMode, mesh: Mesh, upstreams: Callable[[str], Awaitable[Upstream]]
) -> None:
    a = await upstreams("a")
    proxy = ProxyUnderTest("web")
    port = mesh.ports.take()
    config = [eds_cluster("a"), assignment("a", a.port), http_listener("web", port, "http"),
              route_to("http", "a")]  # fmt: skip
    await mesh.snapshots.write(proxy.class_id, config)
    replicas = {name: await mesh.xds_factory(name) for name in ("xds-a", "xds-b")}
    envoy = await mesh.envoy(proxy, replicas.values(), mode)

    before = await wait_for(lambda: synced(mesh, proxy), timeout=5, message="synced")
    serving = replicas[before.replica]
    (other_name,) = set(replicas) - {before.replica}
    other = replicas[other_name]
    assert await metric(other, "mizzen_xds_pushes_total") == 0
    stats_before = await envoy.stats()

    load = Load(port)
    loading = asyncio.ensure_future(load.run())
    try:
        await wait_for(lambda: load.ok >= 20, timeout=5, message="traffic flowing")
        await serving.kill()
        after = await wait_for(
            lambda: _served_by(mesh, proxy, other_name), timeout=5, message="moved to the other"
        )
        switched_at = load.ok
        await wait_for(lambda: load.ok >= switched_at + 50, timeout=5, message="traffic after")
    finally:
        load.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await loading
    assert load.failures == [], f"{len(load.failures)} failed of {load.ok}: {load.failures[:3]}"

    # The other replica computed the same versions, so it sent nothing.
    assert await metric(other, "mizzen_xds_pushes_total") == 0
    stats_after = await envoy.stats()
    for stat in ("cluster_manager.cds.update_success", "listener_manager.lds.update_success"):
        assert stats_after[stat] == stats_before[stat], stat
    assert after.types.keys() == before.types.keys()
    for type_url, entry in after.types.items():
        assert entry.acked_version == before.types[type_url].acked_version, type_url
    assert after.types[CLUSTER_TYPE].acked_version

    # With its replica gone too, the proxy's status expires with the replica's lease.
    await other.kill()
    killed = time.monotonic()
    await wait_for(lambda: _gone(mesh, proxy), timeout=STATUS_TTL + 2, message="status expired")
    assert time.monotonic() - killed < STATUS_TTL + 2


async def _served_by(mesh: Mesh, proxy: ProxyUnderTest, replica: str) -> ProxyStatus | None:
    status = await mesh.status(proxy)
    if status is None or status.replica != replica or len(status.types) < 4:
        return None
    return status


async def _gone(mesh: Mesh, proxy: ProxyUnderTest) -> bool:
    return await mesh.status(proxy) is None
