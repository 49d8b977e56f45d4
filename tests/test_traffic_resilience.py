"""Resilience and load balancing with real traffic: fault injection, retries, timeouts,
circuit breaking, outlier ejection, load balancer policies and endpoint health.

One control plane for the module, the ``pool`` service on three workloads (labels
``instance=a|b|c``) and a client; outlier ejection and endpoint health start their own
workloads. Requests go through the client's Envoy.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from mizzen.testing import wait_for
from mizzen.testing.mesh import (
    APP_PORT,
    ECHO,
    HttpResponse,
    Mesh,
    Workload,
    binomial_bounds,
    gather_limited,
    http_request,
    served_by,
    via_proxy,
)

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.usefixtures("mesh_guard")]

POOL_URL = "http://pool:9080"
POOL_CLUSTER = "outbound|9080||pool.default.svc.cluster.local"
INSTANCES = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: pool}
spec:
  host: pool
  subsets:
  - {name: a, labels: {instance: a}}
"""
# An app that answers every request with 500 (an endpoint gone bad).
FAILING_APP = """
import http.server, os
class Failing(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def do_GET(self):
        self.send_response(500)
        self.send_header("X-Served-By", os.environ["MIZZEN_WORKLOAD"])
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["MIZZEN_APP_PORT"])),
                                Failing).serve_forever()
"""


def pool_routes(http: str) -> str:
    """A VirtualService for ``pool`` with the ``http`` routes (YAML, indented 2)."""
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: pool}}
spec:
  hosts: [pool]
  http:
{http}
"""


def pool_policy(traffic_policy: str) -> str:
    """A DestinationRule for ``pool`` with the ``trafficPolicy`` (YAML, indented 4)."""
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: pool}}
spec:
  host: pool
  trafficPolicy:
{traffic_policy}
"""


@dataclass(frozen=True)
class Pool:
    """The module's workloads."""

    members: tuple[Workload, ...]
    client: Workload


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def mesh_workloads(mesh: Mesh) -> Pool:
    """Three ``pool`` workloads and a client, started together."""
    started = await asyncio.gather(
        *(mesh.workload(f"pool-{i}", service="pool", labels={"app": "pool", "instance": i})
          for i in "abc"),
        mesh.workload("client", service=None, labels={"app": "client"}),
    )  # fmt: skip
    return Pool(tuple(started[:3]), started[3])


async def send(client: Workload, path: str, count: int, *, concurrency: int = 8,
               headers: dict[str, str] | None = None) -> list[HttpResponse]:  # fmt: skip
    """``count`` GETs of ``POOL_URL + path`` through ``client``'s Envoy."""
    return await gather_limited(
        count, lambda _: via_proxy(client, POOL_URL + path, headers=headers or {}),
        concurrency=concurrency,
    )  # fmt: skip


async def wait_cluster(client: Workload, cluster: str, key: str, value: object = None) -> None:
    """Wait until ``client``'s Envoy has ``cluster`` active with field ``key`` (equal to
    ``value`` unless it is ``None``)."""

    async def ready() -> bool:
        found = (await client.clusters()).get(cluster, {})
        return key in found and (value is None or found[key] == value)

    await wait_for(ready, timeout=15, message=f"{cluster} with {key}={value}")


async def test_fault_abort_rate(mesh: Mesh, mesh_workloads: Pool) -> None:
    await mesh.apply(pool_routes("""
  - name: abort-half
    fault:
      abort: {httpStatus: 418, percentage: {value: 50}}
    route:
    - destination: {host: pool}
"""))  # fmt: skip
    await mesh_workloads.client.wait_route("abort-half")
    responses = await send(mesh_workloads.client, "/abort", 400)
    statuses = [r.status for r in responses]
    assert set(statuses) == {200, 418}
    low, high = binomial_bounds(400, 0.5)
    assert low <= statuses.count(418) <= high, statuses.count(418)
    assert all(r.served_by == "" for r in responses if r.status == 418)  # never forwarded


async def test_fault_delay(mesh: Mesh, mesh_workloads: Pool) -> None:
    await mesh.apply(pool_routes("""
  - name: slow
    match:
    - uri: {prefix: /slow}
    fault:
      delay: {fixedDelay: 400ms, percentage: {value: 100}}
    route:
    - destination: {host: pool}
  - name: fast
    route:
    - destination: {host: pool}
"""))  # fmt: skip
    await mesh_workloads.client.wait_route("slow")
    slow = await send(mesh_workloads.client, "/slow", 6, concurrency=6)
    fast = await send(mesh_workloads.client, "/fast", 6, concurrency=1)
    assert all(r.status == 200 and r.elapsed >= 0.4 for r in slow), [r.elapsed for r in slow]
    assert all(r.status == 200 and r.elapsed < 0.3 for r in fast), [r.elapsed for r in fast]


async def test_retries_get_past_a_flaky_upstream(mesh: Mesh, mesh_workloads: Pool) -> None:
    # Subset a (one endpoint) so that every attempt reaches the same flaky counter.
    await mesh.apply(INSTANCES + "---" + pool_routes("""
  - name: retried
    match:
    - uri: {prefix: /flaky/retried-}
    retries: {attempts: 3, retryOn: 5xx, perTryTimeout: 2s}
    route:
    - destination: {host: pool, subset: a}
  - name: not-retried
    route:
    - destination: {host: pool, subset: a}
    retries: {attempts: 0}
"""))  # fmt: skip
    client = mesh_workloads.client
    await client.wait_route("retried")
    await client.wait_route("not-retried")
    key = f"{os.getpid()}-{time.monotonic_ns()}"
    # Three failures: more than Istio's default policy (two retries) would get past.
    retried = await via_proxy(client, f"{POOL_URL}/flaky/retried-{key}/3")
    assert retried.status == 200
    assert retried.json()["attempt"] == 4  # three 503s retried, the fourth attempt served
    assert retried.header("x-envoy-attempt-count") is None  # not asked for; stays internal
    single = await via_proxy(client, f"{POOL_URL}/flaky/once-{key}/3")
    assert single.status == 503
    assert single.json()["attempt"] == 1


async def test_per_try_timeout_retries_slow_attempts(mesh: Mesh, mesh_workloads: Pool) -> None:
    await mesh.apply(INSTANCES + "---" + pool_routes("""
  - name: per-try
    retries: {attempts: 2, perTryTimeout: 200ms, retryOn: 5xx}
    route:
    - destination: {host: pool, subset: a}
"""))  # fmt: skip
    client, member = mesh_workloads.client, mesh_workloads.members[0]
    await client.wait_route("per-try")
    before = await served_count(member)
    response = await via_proxy(client, f"{POOL_URL}/delay/1000")
    assert response.status == 504
    assert 0.6 <= response.elapsed < 1.0  # three attempts of 200 ms, not one of 1 s
    assert await served_count(member) == before + 3  # every attempt reached the app


async def served_count(member: Workload) -> int:
    """How many requests ``member``'s echo app served (asked directly, not through Envoy)."""
    response = await http_request("127.0.0.1", member.app_port, "GET", "/count")
    count: int = response.json()["requests"]
    return count


async def test_timeout_answers_504(mesh: Mesh, mesh_workloads: Pool) -> None:
    await mesh.apply(pool_routes("""
  - name: bounded
    timeout: 300ms
    route:
    - destination: {host: pool}
"""))  # fmt: skip
    client = mesh_workloads.client
    await client.wait_route("bounded")
    late = await via_proxy(client, f"{POOL_URL}/delay/3000")
    assert late.status == 504
    assert 0.25 <= late.elapsed < 2.0  # Envoy's timers are not exact to the millisecond
    assert (await via_proxy(client, f"{POOL_URL}/delay/10")).status == 200


@pytest.mark.parametrize(
    "policy",
    [
        """
    connectionPool:
      tcp: {maxConnections: 1}
      http: {http1MaxPendingRequests: 1, http2MaxRequests: 1, maxRetries: 0}
""",
        # Port-level settings replace the top-level ones for their port.
        """
    connectionPool:
      http: {http1MaxPendingRequests: 1000}
    portLevelSettings:
    - port: {number: 9080}
      connectionPool:
        tcp: {maxConnections: 1}
        http: {http1MaxPendingRequests: 1, http2MaxRequests: 1, maxRetries: 0}
""",
    ],
    ids=["top-level", "port-level"],
)
async def test_circuit_breaker_overflows_with_503(
    mesh: Mesh, mesh_workloads: Pool, policy: str
) -> None:
    await mesh.apply(pool_policy(policy))
    client = mesh_workloads.client

    async def limited() -> bool:
        found = (await client.clusters()).get(POOL_CLUSTER, {})
        thresholds = found.get("circuit_breakers", {}).get("thresholds", [{}])[0]
        return bool(thresholds.get("max_pending_requests") == 1)

    await wait_for(limited, timeout=15, message="the circuit breaker limits")
    responses = await send(client, "/delay/300", 12, concurrency=12)
    overflowed = [r for r in responses if r.status == 503]
    assert overflowed, [r.status for r in responses]
    assert all(r.header("x-envoy-overloaded") == "true" for r in overflowed)
    assert any(r.status == 200 for r in responses)
    stats = await client.stats(r"pool\.default.*upstream_rq_pending_overflow")
    assert stats[f"cluster.{POOL_CLUSTER}.upstream_rq_pending_overflow"] > 0


@pytest_asyncio.fixture(loop_scope="module")
async def outlier_workloads(mesh: Mesh) -> AsyncIterator[tuple[Workload, Workload]]:
    """Service ``outlier`` on ``outlier-ok`` (echo) and ``outlier-bad`` (every answer a 500);
    both stopped afterwards."""
    started = await asyncio.gather(
        mesh.workload("outlier-ok", service="outlier"),
        mesh.workload(
            "outlier-bad", service="outlier", command=(sys.executable, "-c", FAILING_APP)
        ),
    )
    try:
        yield started[0], started[1]
    finally:
        await asyncio.gather(*(mesh.stop_workload(w) for w in started))


async def test_outlier_detection_ejects_the_failing_endpoint(
    mesh: Mesh, mesh_workloads: Pool, outlier_workloads: tuple[Workload, Workload]
) -> None:
    client = mesh_workloads.client
    cluster = "outbound|9080||outlier.default.svc.cluster.local"
    await mesh.apply("""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: outlier}
spec:
  host: outlier
  trafficPolicy:
    outlierDetection:
      consecutive5xxErrors: 2
      interval: 1s
      baseEjectionTime: 5m
      maxEjectionPercent: 100
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: outlier}
spec:
  hosts: [outlier]
  http:
  - name: no-retries
    retries: {attempts: 0}
    route:
    - destination: {host: outlier}
""")  # fmt: skip
    await client.wait_route("no-retries")
    await wait_cluster(client, cluster, "outlier_detection")
    url = "http://outlier:9080/o"
    before = await gather_limited(20, lambda _: via_proxy(client, url), concurrency=1)
    failures = [r for r in before if r.status == 500]
    assert failures, "the failing endpoint never answered"
    assert {r.served_by for r in failures} == {"outlier-bad"}

    async def ejected() -> bool:
        stats = await client.stats(r"outlier\.default.*outlier_detection\.ejections_active")
        return stats.get(f"cluster.{cluster}.outlier_detection.ejections_active") == 1

    await wait_for(ejected, timeout=10, message="the failing endpoint to be ejected")

    async def routed_around() -> bool:
        # Envoy applies host health changes to its workers' load balancers in batches (its
        # update merge window, up to a second after a recent membership change).
        return all(
            r.status == 200 for r in await gather_limited(10, lambda _: via_proxy(client, url))
        )

    await wait_for(routed_around, timeout=5, message="traffic no longer reaching the ejected host")
    after = await gather_limited(40, lambda _: via_proxy(client, url))
    assert {r.status for r in after} == {200}
    assert served_by(after) == {"outlier-ok": 40}


HASH_ON_HEADER = """
    loadBalancer:
      consistentHash: {httpHeaderName: x-user}
"""
HASH_ON_COOKIE = """
    loadBalancer:
      consistentHash: {httpCookie: {name: user, ttl: 0s}}
"""


@pytest.mark.parametrize(
    ("config", "header"),
    [
        (pool_policy(HASH_ON_HEADER), "x-user"),
        (pool_policy(HASH_ON_COOKIE), "cookie"),
        # A subset's policy overrides the top-level one (which is ROUND_ROBIN here).
        (
            pool_policy("    loadBalancer: {simple: ROUND_ROBIN}")
            + """
  subsets:
  - name: every
    labels: {app: pool}
    trafficPolicy:
      loadBalancer:
        consistentHash: {httpHeaderName: x-user}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: pool}
spec:
  hosts: [pool]
  http:
  - name: every
    route:
    - destination: {host: pool, subset: every}
""",
            "x-user",
        ),
    ],
    ids=["header", "cookie", "subset-override"],
)
async def test_consistent_hash_keeps_a_user_on_one_endpoint(
    mesh: Mesh, mesh_workloads: Pool, config: str, header: str
) -> None:
    await mesh.apply(config)
    client = mesh_workloads.client
    await wait_for(lambda: _hashing(client), timeout=15, message="the ring hash and its key")
    chosen = {}
    for user in range(12):
        value = f"user=u{user}" if header == "cookie" else f"u{user}"
        responses = await send(client, "/sticky", 10, headers={header: value})
        counts = served_by(responses)
        assert len(counts) == 1, (user, counts)
        chosen[user] = next(iter(counts))
    assert len(set(chosen.values())) >= 2, chosen  # the users are spread, each one sticks


async def _hashing(client: Workload) -> bool:
    """A RING_HASH cluster is active and the route that reaches it carries a hash policy."""
    clusters = await client.clusters()
    host = (await client.virtual_hosts()).get("pool.default.svc.cluster.local:9080", {})
    for route in host.get("routes", []):
        action = route.get("route", {})
        cluster = clusters.get(action.get("cluster", ""), {})
        if action.get("hash_policy") and cluster.get("lb_policy") == "RING_HASH":
            return True
    return False


async def test_consistent_hash_on_source_ip(mesh: Mesh, mesh_workloads: Pool) -> None:
    await mesh.apply(pool_policy("""
    loadBalancer:
      consistentHash: {useSourceIp: true}
"""))  # fmt: skip
    client = mesh_workloads.client
    await wait_for(lambda: _hashing(client), timeout=15, message="the ring hash and its key")
    counts = served_by(await send(client, "/by-ip", 40))
    assert len(counts) == 1, counts


@pytest.mark.parametrize(
    ("simple", "envoy_policy"),
    [("LEAST_REQUEST", "LEAST_REQUEST"), ("RANDOM", "RANDOM"), ("ROUND_ROBIN", None)],
)
async def test_simple_load_balancers_serve_every_endpoint(
    mesh: Mesh, mesh_workloads: Pool, simple: str, envoy_policy: str | None
) -> None:
    client = mesh_workloads.client
    # A marker (outlier detection) tells when this rule, not the previous one, is in effect.
    await mesh.apply(pool_policy(f"""
    loadBalancer: {{simple: {simple}}}
    outlierDetection: {{consecutive5xxErrors: 1000}}
"""))  # fmt: skip

    async def in_effect() -> bool:
        found = (await client.clusters()).get(POOL_CLUSTER, {})
        # ROUND_ROBIN is Envoy's enum zero: the config dump leaves it out.
        return "outlier_detection" in found and found.get("lb_policy") == envoy_policy

    await wait_for(in_effect, timeout=15, message=f"lb_policy {simple}")
    responses = await send(client, "/lb", 60, concurrency=1)
    assert {r.status for r in responses} == {200}
    counts = served_by(responses)
    assert set(counts) == {"pool-a", "pool-b", "pool-c"}, counts
    if simple == "ROUND_ROBIN":
        assert set(counts.values()) == {20}, counts  # one request at a time, in turn


@pytest_asyncio.fixture(loop_scope="module")
async def health_workloads(mesh: Mesh, tmp_path: Path) -> AsyncIterator[tuple[Workload, Path]]:
    """``health-a`` serves service ``health`` on 9080 and 9081 with two apps (the second's
    pid in the returned file), ``health-b`` on 9080 only; both stopped afterwards."""
    pid_file = tmp_path / "second-app.pid"
    second_port = mesh.ports.take()
    echo = shlex.join(ECHO)
    script = (f"{echo} --port {APP_PORT} & {echo} --port {second_port} & "
              f"echo $! > {shlex.quote(str(pid_file))}; wait")  # fmt: skip
    first, second = await asyncio.gather(
        mesh.workload(
            "health-a",
            service="health",
            extra_ports=[f"9081:{second_port}"],
            command=("sh", "-c", script),
        ),
        mesh.workload("health-b", service="health"),
    )
    try:
        yield first, pid_file
    finally:
        await asyncio.gather(mesh.stop_workload(first), mesh.stop_workload(second))


async def test_unhealthy_endpoint_gets_no_traffic(
    mesh: Mesh, mesh_workloads: Pool, health_workloads: tuple[Workload, Path]
) -> None:
    client = mesh_workloads.client
    first, pid_file = health_workloads
    url = "http://health:9080/h"

    async def both_serve() -> bool:
        responses = await gather_limited(20, lambda _: via_proxy(client, url))
        return set(served_by(responses)) == {"health-a", "health-b"}

    await wait_for(both_serve, timeout=15, message="both health workloads to serve")
    # The second app of health-a stops: its agent's probe fails, discovery records it.
    os.kill(int(pid_file.read_text()), signal.SIGTERM)
    await mesh.wait_health(first, "UNHEALTHY", timeout=15)

    async def excluded() -> bool:
        text = (await client.admin("/clusters")).body.decode()
        prefix = f"outbound|9080||health.default.svc.cluster.local::{first.address}:9080::"
        return f"{prefix}health_flags::/failed_eds_health" in text

    await wait_for(excluded, timeout=15, message="the client's Envoy to see it unhealthy")

    async def routed_around() -> bool:
        # The health change reaches the workers' load balancers in Envoy's next batch (its
        # update merge window, up to a second after a previous membership change).
        return served_by(await gather_limited(10, lambda _: via_proxy(client, url))) == {
            "health-b": 10
        }

    await wait_for(routed_around, timeout=5, message="traffic no longer reaching health-a")
    responses = await gather_limited(40, lambda _: via_proxy(client, url))
    assert {r.status for r in responses} == {200}
    # health-a's first app still serves 9080: only the registry's health keeps it idle.
    assert served_by(responses) == {"health-b": 40}
