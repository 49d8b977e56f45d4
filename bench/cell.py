"""One cell of the convergence benchmark: N proxies, M services, one change, the figures.

:func:`run_cell` is the whole of it (see ``convergence.py``'s docstring for what is measured);
:class:`Cell` holds its phases, each under a deadline. Every process a cell starts is
registered on one exit stack as soon as it exists, so all of them are stopped when the cell
ends, fails or is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from benchstack import (
    Applied,
    RealEnvoy,
    Stack,
    Topology,
    apply_documents,
    control_plane,
    cpu_seconds,
    envoy_change_latency,
    envoy_xds_stats,
    machine_busy_seconds,
    memory_kb,
    populate_registry,
    real_envoy,
)
from loadgen import LoadGenProcess
from profiling import profiled

from mizzen.snapshots import CLASSES_PREFIX
from mizzen.snapshots.layout import INPUTS_SUFFIX
from mizzen.store import Store, list_prefix

START_TIMEOUT = 60.0
POLL = 0.1


@dataclass(frozen=True, slots=True)
class CellOptions:
    """How to run a cell (the command line's options; see ``convergence.py --help``)."""

    real_envoys: int = 2
    delta: bool = False
    workloads: int = 10
    namespaces: int = 5
    endpoints: int = 3
    streams_per_channel: int = 1
    fast_etcd: bool = False
    etcd_max_request_bytes: int = 0
    quiet: float = 0.5
    initial_timeout: float = 0.0
    """0: 60 s + N*M/5000 s."""
    change_timeout: float = 60.0
    profile: Path | None = None
    idle: bool = False
    rest: float = 1.5
    """Before the change, wait until xds and the translator used no CPU for this long (0:
    apply the change as soon as every proxy is synced)."""
    xds_env: tuple[str, ...] = ()
    """``KEY=VALUE`` entries added to xds's environment."""


class PhaseTimeout(Exception):
    """A phase of a cell did not finish before its deadline."""


@asynccontextmanager
async def phase(name: str, seconds: float) -> AsyncIterator[None]:
    """Run the body with a deadline; overrunning raises :class:`PhaseTimeout` naming it."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise PhaseTimeout(f"{name}: not done within {seconds:.0f}s") from exc


LAST_PROGRESS: dict[str, str] = {}
"""What each unfinished wait last saw, for the error message of a failed cell."""


async def until(check: Callable[[], Awaitable[tuple[bool, str]]], *, what: str) -> None:
    """Poll ``check`` (returning ``(done, progress text)``) until done; if the enclosing
    phase's deadline cancels the wait, :data:`LAST_PROGRESS` keeps the last progress text."""
    while True:
        done, progress = await check()
        LAST_PROGRESS[what] = progress
        if done:
            del LAST_PROGRESS[what]
            return
        await asyncio.sleep(POLL)  # polling another process's state, under a deadline


@dataclass
class CellResult:
    """The figures of one (N, M) cell; ``error`` says why a cell has none."""

    proxies: int
    services: int
    envoys: int
    classes: int = 0
    initial_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    """Seconds from the apply returning to each proxy's last ACK (simulated, then real)."""
    envoy_latencies: list[float] = field(default_factory=list)
    pushes: tuple[int, int] = (0, 0)
    """Fewest and most responses a simulated proxy received for the change."""
    push_kb: float = 0.0
    """Mean bytes a simulated proxy received for the change, in KiB."""
    xds_cpu_connect: float = 0.0
    xds_cpu_change: float = 0.0
    xds_cpu_total: float = 0.0
    xds_rss_before_kb: int = 0
    xds_rss_connected_kb: int = 0
    """xds VmRSS once every proxy is synced (before the change)."""
    xds_rss_rest_kb: int = 0
    """xds VmRSS with every proxy connected, once the control plane is at rest (the steady
    state: the initial sync's transient buffers released; 0 with ``--rest 0``)."""
    xds_rss_after_kb: int = 0
    """xds VmRSS once the change is pushed everywhere (steadier: the initial sync's
    transient buffers have had time to go)."""
    xds_hwm_kb: int = 0
    translator_cpu_change: float = 0.0
    loadgen_cpu_change: float = 0.0
    other_cpu_change: float = 0.0
    """CPU seconds the machine spent on anything but this cell's processes during the
    change (other people's work on a shared machine makes the figures unreliable)."""
    load_average: float = 0.0
    """The 1-minute load average when the cell started."""
    envoy_rejected: int = 0
    """Updates the real Envoys rejected (CDS, LDS, RDS), over the whole cell."""
    error: str = ""

    @property
    def kb_per_proxy(self) -> float:
        """xds RSS growth per connected proxy (simulated and real): at rest with every proxy
        connected when that was measured, else the lower of the readings once synced and
        after the change."""
        connected = self.proxies + self.envoys
        rss = self.xds_rss_rest_kb or min(
            self.xds_rss_connected_kb, self.xds_rss_after_kb or self.xds_rss_connected_kb
        )
        return (rss - self.xds_rss_before_kb) / max(1, connected)

    def quantile(self, fraction: float) -> float:
        """A latency quantile in seconds (nearest rank)."""
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
        return ordered[index]


async def count_classes(store: Store) -> int:
    """Proxy classes xds asked the translator for."""
    listing = await list_prefix(store, CLASSES_PREFIX.encode())
    return sum(kv.key.decode().endswith(INPUTS_SUFFIX) for kv in listing.kvs)


def _pid(pid: int | None) -> int:
    if pid is None:
        raise RuntimeError("a process that should run has exited")
    return pid


class Cell:
    """The phases of one cell, sharing its processes and its result."""

    def __init__(self, options: CellOptions, proxies: int, services: int, work_dir: Path,
                 stack: AsyncExitStack) -> None:  # fmt: skip
        self.options = options
        self.proxies = proxies
        self.work_dir = work_dir
        self.stack = stack
        self.topology = Topology(services=services, workloads=options.workloads,
                                 namespaces=options.namespaces,
                                 endpoints=options.endpoints)  # fmt: skip
        self.result = CellResult(proxies, services, options.real_envoys,
                                 load_average=os.getloadavg()[0])  # fmt: skip
        self.initial_timeout = options.initial_timeout or 60.0 + proxies * services * 2e-4
        self.plane: Stack
        self.loadgen: LoadGenProcess
        self.envoys: list[RealEnvoy] = []

    async def start_control_plane(self) -> None:
        """etcd, translator and xds running; the registry and config written."""
        options, topology = self.options, self.topology
        async with phase("start etcd, translator, xds", START_TIMEOUT * 2):
            self.plane = await self.stack.enter_async_context(control_plane(
                self.work_dir, fast_etcd=options.fast_etcd, timeout=START_TIMEOUT,
                etcd_max_request_bytes=options.etcd_max_request_bytes,
                xds_env=dict(entry.split("=", 1) for entry in options.xds_env),
            ))  # fmt: skip
        async with phase("populate registry and config", 60.0 + topology.services * 0.1):
            await populate_registry(self.plane.store, topology)
            documents = [topology.virtual_service(i) for i in range(topology.services)]
            await apply_documents(self.plane.translator.grpc_target, documents, timeout=120.0)

    async def connect_proxies(self) -> None:
        """Every simulated proxy and real Envoy connected and holding its initial config."""
        plane, result = self.plane, self.result
        xds_pid = _pid(plane.xds.pid)
        result.xds_rss_before_kb = memory_kb(xds_pid)
        cpu_before = cpu_seconds(xds_pid)
        self.loadgen = loadgen = LoadGenProcess(
            self.work_dir / "loadgen", target=plane.xds.grpc_target,
            control_port=plane.ports.take(), proxies=self.proxies,
            workloads=self.topology.workload_specs(), delta=self.options.delta,
            streams_per_channel=self.options.streams_per_channel,
        )  # fmt: skip
        self.stack.push_async_callback(loadgen.stop)
        for k in range(self.options.real_envoys):
            envoy = real_envoy(plane, self.topology, k, delta=self.options.delta,
                               timeout=self.initial_timeout)  # fmt: skip
            self.stack.push_async_callback(envoy.process.stop)
            self.envoys.append(envoy)

        async def all_synced() -> tuple[bool, str]:
            plane.check_alive(loadgen)
            status = await loadgen.command("status")
            if status["errors"]:
                raise RuntimeError(f"proxy streams failed: {status['error_samples']}")
            text = f"{status['complete']}/{self.proxies} complete, {status['open']} open"
            return status["complete"] == self.proxies, text

        async with phase("initial sync of every proxy", self.initial_timeout):
            await loadgen.start()
            try:
                async with asyncio.TaskGroup() as starting:  # a failure cancels the others
                    for envoy in self.envoys:
                        starting.create_task(envoy.process.start())
                    starting.create_task(until(all_synced, what="initial sync"))
            except ExceptionGroup as group:
                raise group.exceptions[0] from group  # the first failure is the story
        report = await loadgen.command("report")
        result.initial_seconds = max(report["first_ack"]) - report["started_at"]
        result.xds_rss_connected_kb = memory_kb(xds_pid)
        result.xds_cpu_connect = cpu_seconds(xds_pid) - cpu_before
        result.classes = await count_classes(plane.store)

    def _cpu(self) -> tuple[float, float, float, float]:
        """CPU seconds of xds, the translator, the load generator, and of everything else on
        the machine (busy time minus this cell's processes and this one)."""
        plane = self.plane
        xds = cpu_seconds(_pid(plane.xds.pid))
        translator = cpu_seconds(_pid(plane.translator.pid))
        loadgen = cpu_seconds(_pid(self.loadgen.pid))
        rest = [cpu_seconds(_pid(plane.etcd.pid)), cpu_seconds(os.getpid())]
        rest += [cpu_seconds(_pid(envoy.process.pid)) for envoy in self.envoys]
        other = machine_busy_seconds() - xds - translator - loadgen - sum(rest)
        return xds, translator, loadgen, other

    async def rest(self) -> None:
        """Wait until the control plane is at rest: xds and the translator used (almost) no
        CPU for ``options.rest`` seconds. A mesh meets most changes at rest, long after its
        proxies connected; right after the initial sync both services still finish work of
        their own (the heap settling once a burst is over: mizzen.runtime.heap)."""
        window = self.options.rest
        if not window:
            return
        pids = [_pid(self.plane.xds.pid), _pid(self.plane.translator.pid)]

        async def at_rest() -> tuple[bool, str]:
            before = sum(cpu_seconds(pid) for pid in pids)
            await asyncio.sleep(window)  # measuring CPU use over a window
            used = sum(cpu_seconds(pid) for pid in pids) - before
            return used < 0.02 * window, f"control plane used {used:.2f} CPU s in {window} s"

        async with phase("control plane at rest", 60.0):
            await until(at_rest, what="control plane at rest")
        self.result.xds_rss_rest_kb = memory_kb(pids[0])

    async def change(self) -> None:
        """Apply the change and measure its push to every proxy."""
        options, plane, loadgen, result = self.options, self.plane, self.loadgen, self.result
        marker = f"mizzen-bench-{uuid.uuid4().hex[:12]}"
        envoy_before = [await envoy_xds_stats(envoy) for envoy in self.envoys]
        await loadgen.command("arm", marker=marker)
        if options.profile:
            pids = {"xds": _pid(plane.xds.pid), "translator": _pid(plane.translator.pid),
                    "loadgen": _pid(loadgen.pid)}  # fmt: skip
            prefix = f"n{self.proxies}-m{self.topology.services}-"
            await self.stack.enter_async_context(
                profiled(pids, options.profile, prefix=prefix, idle=options.idle)
            )
        cpu_before = self._cpu()
        changed = self.topology.virtual_service(self.topology.target, marker)
        applied = await apply_documents(plane.translator.grpc_target, [changed], timeout=60.0)
        async with phase("push of the change to every proxy", options.change_timeout):
            await self._wait_for_push(marker, applied, envoy_before)
        cpu_after = self._cpu()
        result.xds_cpu_change = cpu_after[0] - cpu_before[0]
        result.translator_cpu_change = cpu_after[1] - cpu_before[1]
        result.loadgen_cpu_change = cpu_after[2] - cpu_before[2]
        result.other_cpu_change = max(0.0, cpu_after[3] - cpu_before[3])
        result.xds_cpu_total = cpu_after[0]
        result.xds_hwm_kb = memory_kb(_pid(plane.xds.pid), "VmHWM")
        result.xds_rss_after_kb = memory_kb(_pid(plane.xds.pid))
        report = await loadgen.command("report")
        simulated = [last - applied.monotonic for last in report["last_ack"]]
        result.latencies = simulated + result.envoy_latencies
        result.pushes = (min(report["responses"]), max(report["responses"]))
        result.push_kb = sum(report["received_bytes"]) / max(1, self.proxies) / 1024
        for envoy in self.envoys:
            stats = await envoy_xds_stats(envoy)
            result.envoy_rejected += sum(v for k, v in stats.items()
                                         if k.endswith("update_rejected"))  # fmt: skip

    async def _wait_for_push(self, marker: str, applied: Applied,
                             envoy_before: list[dict[str, int]]) -> None:  # fmt: skip
        plane, loadgen, proxies = self.plane, self.loadgen, self.proxies

        async def all_acked_marker() -> tuple[bool, str]:
            plane.check_alive(loadgen)
            progress = await loadgen.command("progress")
            if progress["errors"]:
                raise RuntimeError(f"{progress['errors']} proxy streams failed")
            return progress["marker_acked"] == proxies, f"{progress['marker_acked']}/{proxies}"

        async def quiet() -> tuple[bool, str]:
            progress = await loadgen.command("progress")
            idle = progress["now"] - progress["last_ack"]
            return idle >= self.options.quiet, f"last ACK {idle:.2f}s ago"

        envoy_waits = asyncio.gather(*(
            envoy_change_latency(envoy, marker, applied_wall=applied.wall, before=before,
                                 timeout=self.options.change_timeout)
            for envoy, before in zip(self.envoys, envoy_before, strict=True)
        ))  # fmt: skip
        try:
            await until(all_acked_marker, what="marker ACKs")
            self.result.envoy_latencies = list(await envoy_waits)
        finally:
            envoy_waits.cancel()
            with contextlib.suppress(BaseException):  # its outcome was taken above, if any
                await envoy_waits
        await until(quiet, what="quiet")


async def wait_for_quiet_machine(limit: float, *, cores: float = 0.3, window: float = 2.0
                                 ) -> float:  # fmt: skip
    """Wait (at most ``limit`` seconds) until the machine stays below ``cores`` busy CPUs for
    ``window`` seconds; returns the last busy figure (in CPUs), quiet or not."""
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        before = machine_busy_seconds()
        await asyncio.sleep(window)  # measuring the machine's load over a window
        busy = (machine_busy_seconds() - before) / window
        if busy < cores or asyncio.get_running_loop().time() >= deadline:
            return busy


async def run_cell(options: CellOptions, proxies: int, services: int,
                   work_dir: Path) -> CellResult:  # fmt: skip
    """Run one cell; every process it started is stopped before this returns or raises."""
    async with AsyncExitStack() as stack:
        cell = Cell(options, proxies, services, work_dir, stack)
        await cell.start_control_plane()
        await cell.connect_proxies()
        await cell.rest()
        await cell.change()
        return cell.result
