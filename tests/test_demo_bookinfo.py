"""Bookinfo on a real local mesh: ``mizzen up --detach``, then ``mizzen demo --detach`` on it.

Everything runs as real processes in a temporary home, on ports shifted below the ephemeral
range (``--port-offset``): etcd, nats-server, translator, discovery, xds, six Bookinfo
workloads each beside its Envoy, and the ingress gateway's Envoy. Every request goes through
the gateway. The tests run in file order and share the demo: Istio's Bookinfo task YAMLs
(request routing, fault injection, traffic shifting, request timeouts), then a kill -9 of
each control-plane service under traffic, then ``mizzen down``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from grpc import aio

from mizzen.cli.demo_cmd import find_free_port_offset
from mizzen.protos.config.v1 import config_pb2 as pb
from mizzen.protos.config.v1 import config_pb2_grpc
from mizzen.samples.bookinfo import MANIFESTS_DIR, WORKLOADS, manifest_path
from mizzen.samples.bookinfo.probe import PageView, fetch_page
from mizzen.testing import wait_for
from mizzen.testing.mesh import binomial_bounds
from mizzen.testing.processes import alive, descendants

pytestmark = pytest.mark.asyncio(loop_scope="module")

MIZZEN = str(Path(sys.executable).parent / "mizzen")
CHILDREN = [*(w.name for w in WORKLOADS), "ingress"]
# After a kill, traffic is watched this long: past the 10 s TTL of the leases the killed
# process held (registrations, proxy status), whose expiry is what could break it.
OUTAGE_WINDOW = 12.0


def run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MIZZEN, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)  # fmt: skip


@dataclass
class Demo:
    """The shared demo: its home, port offset, and what ``mizzen demo --detach`` printed."""

    home: Path
    offset: int
    output: str = ""

    @property
    def gateway_port(self) -> int:
        return 8080 + self.offset

    @property
    def server(self) -> str:
        return f"127.0.0.1:{15011 + self.offset}"

    def mesh_state(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((self.home / "state.json").read_text())
        return document

    def demo_state(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((self.home / "demo" / "state.json").read_text())
        return document

    async def page(self, user: str | None = None, timeout: float = 30) -> PageView:
        return await fetch_page("127.0.0.1", self.gateway_port, user=user, timeout=timeout)

    async def apply(self, *names: str) -> None:
        """Apply task YAMLs one after the other, as ``mizzen apply -f`` does."""
        async with aio.insecure_channel(self.server) as channel:
            stub = config_pb2_grpc.ConfigServiceStub(channel)
            for name in names:
                path = manifest_path(name)
                request = pb.ApplyRequest(files=[pb.SourceFile(name=str(path),
                                                               content=path.read_text())],
                                          applied_by="test_demo_bookinfo")  # fmt: skip
                await stub.Apply(request, timeout=30)

    async def settle(self, accept: Any, *, user: str | None = None, count: int = 5,
                     timeout: float = 30) -> PageView:  # fmt: skip
        """Wait until ``count`` pages in a row satisfy ``accept``; the last page."""
        streak: list[PageView] = []

        async def settled() -> PageView | None:
            page = await self.page(user)
            streak.append(page) if accept(page) else streak.clear()
            return page if len(streak) >= count else None

        found: PageView = await wait_for(settled, timeout=timeout, interval=0,
                                         message="the new config in traffic")  # fmt: skip
        return found


def force_cleanup(home: Path) -> None:
    """Whatever a failed test left: kill the supervisors; their children die with them."""
    for state in (home / "demo" / "state.json", home / "state.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            os.kill(json.loads(state.read_text())["supervisor_pid"], signal.SIGKILL)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``mizzen up --detach``, then ``mizzen demo --detach`` reusing that mesh."""
    running = Demo(tmp_path_factory.mktemp("demo") / "home", find_free_port_offset())
    offset = str(running.offset)
    try:
        started = run("up", "--detach", "--home", str(running.home), "--port-offset", offset)
        assert started.returncode == 0, started.stdout + started.stderr
        shown = run("demo", "--detach", "--home", str(running.home), "--port-offset", offset)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        running.output = shown.stdout
        yield running
    finally:
        run("demo", "--down", "--home", str(running.home), timeout=60)
        run("down", "--home", str(running.home), timeout=60)
        force_cleanup(running.home)


async def test_demo_reuses_the_mesh_and_serves_the_page(demo: Demo) -> None:
    url = f"http://127.0.0.1:{demo.gateway_port}/productpage"
    assert f"using the mesh already running in {demo.home}" in demo.output
    assert f"Bookinfo is ready: {url}" in demo.output
    assert f"export MIZZEN_HOME={demo.home}" in demo.output
    assert "Stop it with `mizzen demo --down`. The mesh keeps running." in demo.output
    printed = [line.split("-f ", 1)[1] for line in demo.output.splitlines()
               if line.strip().startswith("mizzen apply -f ")]  # fmt: skip
    assert len(printed) >= 4
    assert all((MANIFESTS_DIR / Path(path).name).samefile(path) for path in printed)
    state = demo.demo_state()
    assert state["phase"] == "ready"
    assert state["env"]["MIZZEN_DEMO_URL"] == url
    assert list(state["components"]) == CHILDREN
    assert {c["status"] for c in state["components"].values()} == {"healthy"}
    shown = run("demo", "--status", "--home", str(demo.home))
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert f"Bookinfo running at {url}" in shown.stdout
    rows = {line.split()[0]: line.split()[1] for line in shown.stdout.splitlines()[2:]}
    assert rows == dict.fromkeys(CHILDREN, "healthy")
    # With the subsets only, reviews answers from every version in turn.
    versions: Counter[str] = Counter()
    for _ in range(30):
        page = await demo.page()
        assert page.whole, page
        versions[page.reviews_version] += 1
    assert set(versions) == {"v1", "v2", "v3"}, versions


async def test_a_second_demo_in_the_same_home_is_refused(demo: Demo) -> None:
    again = run("demo", "--detach", "--home", str(demo.home), "--port-offset", str(demo.offset))
    assert again.returncode == 1
    url = f"http://127.0.0.1:{demo.gateway_port}/productpage"
    assert f"a demo is already running in {demo.home} at {url}" in again.stderr
    assert demo.demo_state()["phase"] == "ready"


async def test_request_routing_sends_jason_to_v2(demo: Demo) -> None:
    # As a user would: the CLI, with the path the demo printed.
    applied = run("--server", demo.server, "apply", "-f",
                  str(MANIFESTS_DIR / "virtual-service-reviews-test-v2.yaml"))  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    await demo.settle(lambda p: p.reviews_version == "v2", user="jason")
    await demo.settle(lambda p: p.reviews_version == "v1")
    for _ in range(20):
        jason, other = await demo.page("jason"), await demo.page("normal")
        assert jason.whole
        assert other.whole
        assert (jason.reviews_version, jason.star_colors) == ("v2", ("black", "black"))
        assert (other.reviews_version, other.star_colors) == ("v1", ())


async def test_fault_injection_abort_for_jason(demo: Demo) -> None:
    await demo.apply("virtual-service-ratings-test-abort")
    await demo.settle(lambda p: p.ratings_unavailable, user="jason")
    for _ in range(10):
        jason, other = await demo.page("jason"), await demo.page()
        assert (jason.status, jason.reviews_version, jason.errors) == (200, "v2", ())
        assert jason.ratings_unavailable
        assert jason.star_colors == ()
        assert other.whole
        assert other.reviews_version == "v1"


async def test_fault_injection_delay_for_jason_meets_productpage_timeout(demo: Demo) -> None:
    await demo.apply("virtual-service-ratings-test-delay")
    # reviews v2 waits up to 10 s for the 7 s delay; productpage gives it 3 s, twice.
    page = await demo.settle(lambda p: "reviews" in p.errors, user="jason", count=1)
    assert page.status == 200
    assert page.errors == ("reviews",)  # details still shown
    assert page.reviews_version == ""
    assert 6.0 <= page.elapsed < 7.0, page.elapsed
    other = await demo.page()
    assert other.whole
    assert other.elapsed < 1.0


async def test_traffic_shifting_90_10(demo: Demo) -> None:
    await demo.apply("virtual-service-all-v1", "virtual-service-reviews-v3")
    await demo.settle(lambda p: p.whole and p.reviews_version == "v3")
    await demo.apply("virtual-service-reviews-90-10")
    # v3 cannot answer under 90/10: the first page from another version shows it applied.
    await demo.settle(lambda p: p.reviews_version != "v3", count=1)
    n = 300
    semaphore = asyncio.Semaphore(8)

    async def one() -> PageView:
        async with semaphore:
            return await demo.page()

    pages = await asyncio.gather(*(one() for _ in range(n)))
    assert all(page.whole for page in pages)
    versions = Counter(page.reviews_version for page in pages)
    assert set(versions) <= {"v1", "v2"}, versions
    low, high = binomial_bounds(n, 0.1)
    assert low <= versions["v2"] <= high, versions


async def test_request_timeouts_task(demo: Demo) -> None:
    await demo.apply("virtual-service-reviews-v2", "virtual-service-ratings-delay-2s")
    slow = await demo.settle(lambda p: p.elapsed >= 2.0, count=1)
    assert slow.whole
    assert (slow.reviews_version, slow.star_colors) == ("v2", ("black", "black"))
    assert slow.elapsed < 3.0
    await demo.apply("virtual-service-reviews-timeout")
    # 0.5 s per call to reviews, and productpage tries twice: about 1 s, reviews unavailable.
    page = await demo.settle(lambda p: "reviews" in p.errors, count=1)
    assert page.status == 200
    assert page.errors == ("reviews",)
    assert 1.0 <= page.elapsed < 1.6, page.elapsed


async def test_no_envoy_of_the_demo_rejected_anything(demo: Demo) -> None:
    """The NACK guard for the demo's own Envoys (started by its agents, not by a fixture):
    after every task above, xds recorded no NACK from any of them, and each comes to hold
    what it was sent (a response may be on its way at any moment: waited for)."""

    def statuses() -> list[dict[str, Any]]:
        shown = subprocess.run([MIZZEN, "proxy-status", "-o", "json"], capture_output=True,
                               text=True, timeout=60, check=False,
                               env={**os.environ, "MIZZEN_HOME": str(demo.home)})  # fmt: skip
        assert shown.returncode == 0, shown.stdout + shown.stderr
        found: list[dict[str, Any]] = json.loads(shown.stdout)
        assert [s["proxyId"] for s in found if s.get("lastNack")] == [], found
        return found

    def synced() -> bool:
        found = statuses()
        return len(found) == len(CHILDREN) and all(
            set(s["sync"].values()) <= {"SYNCED", "NOT SENT"} for s in found
        )

    await wait_for(synced, timeout=30, message="every demo Envoy synced, none NACKed")


@pytest.mark.parametrize("victim", ["translator", "discovery", "xds", "etcd", "nats"])
async def test_a_killed_control_plane_process_drops_no_request(demo: Demo, victim: str) -> None:
    await demo.apply("virtual-service-all-v1", "virtual-service-reviews-v3")
    await demo.settle(lambda p: p.whole and p.reviews_version == "v3")
    pages: list[PageView | BaseException] = []
    stop = asyncio.Event()

    async def traffic() -> None:
        while not stop.is_set():
            try:
                pages.append(await demo.page(timeout=10))
            except (OSError, TimeoutError, ValueError) as exc:
                pages.append(exc)

    senders = [asyncio.create_task(traffic()) for _ in range(2)]
    try:
        await wait_for(lambda: len(pages) >= 10, timeout=30, message="traffic flowing")
        before = demo.mesh_state()["components"][victim]
        os.kill(before["pid"], signal.SIGKILL)
        killed_at = time.monotonic()

        def restarted() -> bool:
            now = demo.mesh_state()["components"][victim]
            return bool(now["status"] == "healthy" and now["restarts"] == before["restarts"] + 1)

        await wait_for(restarted, timeout=30, message=f"{victim} restarted by mizzen up")
        sent = len(pages)

        def observed() -> bool:
            return time.monotonic() >= killed_at + OUTAGE_WINDOW and len(pages) >= sent + 20

        await wait_for(observed, timeout=OUTAGE_WINDOW + 30, message="traffic after the kill")
    finally:
        stop.set()
        await asyncio.gather(*senders)
    failed = [p for p in pages if not isinstance(p, PageView) or not p.whole
              or p.reviews_version != "v3"]  # fmt: skip
    assert not failed, f"{len(failed)} of {len(pages)} failed; first: {failed[0]!r}"
    # The restarted control plane takes a change, and it reaches the Envoys.
    await demo.apply("virtual-service-all-v1")
    await demo.settle(lambda p: p.whole and p.reviews_version == "v1", timeout=30)


async def test_mizzen_down_leaves_no_process_behind(demo: Demo) -> None:
    mesh, bookinfo = demo.mesh_state(), demo.demo_state()
    roots = {mesh["supervisor_pid"], bookinfo["supervisor_pid"]}
    roots |= {c["pid"] for c in [*mesh["components"].values(), *bookinfo["components"].values()]}
    pids = descendants(roots)
    # etcd, nats, 3 services, 7 children (each with its Envoy), 6 apps, 2 supervisors.
    assert len(pids) >= 5 + 7 * 2 + 6 + 2, sorted(pids)
    stopped = run("down", "--home", str(demo.home), timeout=90)
    assert stopped.returncode == 0, stopped.stderr
    assert not [p for p in {mesh["supervisor_pid"], *mesh_pids(mesh)} if alive(p)]
    # The demo's supervisor sees the mesh stop and stops Bookinfo with it.
    await wait_for(lambda: not [p for p in pids if alive(p)], timeout=30,
                   message="every process of the mesh and of Bookinfo gone")  # fmt: skip
    assert demo.demo_state()["phase"] == "stopped"


def mesh_pids(state: dict[str, Any]) -> set[int]:
    return {c["pid"] for c in state["components"].values() if c["pid"]}
