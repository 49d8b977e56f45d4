"""Running Bookinfo for ``mizzen demo``: the plan, the supervised children, the page check.

:class:`DemoPlan` says what one demo runs (ports, the mesh's environment, whether the demo
started that mesh); :class:`DemoSupervisor` starts every Bookinfo workload
(``mizzen workload run``) and the ingress gateway (``mizzen gateway run``) as children bound
to this process, restarts any that exits, waits until the product page answers through the
gateway, and stops them (the gateway first, then the workloads together: a workload whose
discovery is already gone may wait for its deregistration, and seven of those in a row
would be slow). :func:`supervise` runs all that until a stop signal or until the mesh stops.

The demo's files are in ``<home>/demo/``: ``up.lock`` (held by whichever process
supervises the children), ``state.json`` (a :class:`~mizzen.cli.mesh.MeshState` of the
children, ``mode="demo"``, so ``mizzen status``'s table and ``stop_mesh`` work on it),
``plan.json`` and ``logs/<child>.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import click
import structlog

from mizzen.cli.defaults import DEFAULT_DISCOVERY
from mizzen.cli.mesh import (
    ComponentState,
    MeshError,
    MeshHome,
    MeshState,
    Phase,
    Status,
    read_state,
    resolve_home,
    stop_mesh,
)
from mizzen.cli.mesh.components import probe_health
from mizzen.cli.mesh.state import write_state
from mizzen.launcher import ChildProcess, ProcessStartError
from mizzen.launcher.probe import http_get

__all__ = [
    "DEFAULT_APP_PORT_BASE",
    "DEFAULT_GATEWAY_ADMIN_PORT",
    "DEFAULT_GATEWAY_PORT",
    "DemoError",
    "DemoPlan",
    "DemoSupervisor",
    "footer",
    "mizzen_argv",
    "read_plan",
    "stop_mesh_quietly",
    "supervise",
]

log = structlog.get_logger(__name__)

DEFAULT_GATEWAY_PORT = 8080
DEFAULT_GATEWAY_ADMIN_PORT = 15000
GATEWAY_SERVER_PORT = 8080
DEFAULT_APP_PORT_BASE = 19080
GATEWAY = "ingress"
GATEWAY_SERVICE = "istio-ingressgateway"
"""The service the demo's gateway registers as (Istio's name for it)."""
GATEWAY_LABELS = "istio=ingressgateway"
PAGE = "/productpage"
READY_VARIABLE = "MIZZEN_DEMO_URL"
TRY_TASKS = (
    "virtual-service-all-v1",
    "virtual-service-reviews-test-v2",
    "virtual-service-ratings-test-delay",
    "virtual-service-reviews-90-10",
)
_POLL_SECONDS = 0.1
_MESH_POLL_SECONDS = 0.5
_RESTART_INITIAL, _RESTART_MAX, _RESTART_RESET = 0.5, 30.0, 60.0
STOP_GRACE = 15.0
_START_ATTEMPTS = 3
_REPEAT_SECONDS = 1.0


class DemoError(click.ClickException):
    """A demo that cannot start or stop; the message says what to do (exit status 1)."""


# ---- what the demo runs ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoPlan:
    """One demo: its home, the gateway's port and admin port, each workload's app port, the mesh's
    environment (``mizzen up``'s ``MIZZEN_*`` variables), whether the demo started that mesh,
    and how long the page may take to answer. JSON-serializable and immutable."""

    home: Path
    gateway_port: int
    gateway_admin_port: int
    app_ports: dict[str, int]
    env: dict[str, str]
    started_mesh: bool
    timeout: float

    @property
    def url(self) -> str:
        """The page to open."""
        return f"http://127.0.0.1:{self.gateway_port}{PAGE}"

    @property
    def directory(self) -> MeshHome:
        """The demo's own state directory, ``<home>/demo`` (lock, state, plan, logs)."""
        return MeshHome(self.home / "demo")

    def to_json(self) -> str:
        """This plan as JSON (the inverse of :meth:`from_json`)."""
        return json.dumps({**dataclasses.asdict(self), "home": str(self.home)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DemoPlan:
        """Parse what :meth:`to_json` wrote."""
        data = json.loads(text)
        return cls(**{**data, "home": Path(data["home"])})


def mizzen_argv() -> list[str]:
    """How to run this CLI again: the ``mizzen`` script beside this interpreter, if any."""
    script = Path(sys.executable).parent / "mizzen"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from mizzen.cli.main import main; main()"]


class _Child(ChildProcess):
    """A supervised ``mizzen workload run`` or ``mizzen gateway run``; ready once
    ``health_url`` answers 200."""

    def __init__(self, name: str, kind: str, argv: list[str], *, log_path: Path,
                 env: dict[str, str], address: str, health_url: str,
                 start_timeout: float) -> None:  # fmt: skip
        super().__init__(name, argv, log_path=log_path, env=env, start_timeout=start_timeout)
        self.kind = kind
        self.address = address
        self.health_url = health_url

    async def is_ready(self) -> bool:
        """See :meth:`ChildProcess.is_ready`."""
        return await probe_health(self.health_url)


def _children(plan: DemoPlan) -> list[_Child]:
    from mizzen.samples.bookinfo import WORKLOADS

    mizzen, logs = mizzen_argv(), plan.directory.logs_dir
    env = {**plan.env, "MIZZEN_LOG_FORMAT": "json"}
    children = []
    for workload in WORKLOADS:
        port = plan.app_ports[workload.name]
        children.append(_Child(
            workload.name, "workload", [*mizzen, *workload.run_arguments(port)],
            log_path=logs / f"{workload.name}.log", env=env, address=f"127.0.0.1:{port}",
            health_url=f"http://127.0.0.1:{port}/health", start_timeout=plan.timeout,
        ))  # fmt: skip
    # bookinfo-gateway's server is on port 8080; a gateway told to listen elsewhere serves
    # that server there (PORT:LISTEN_PORT), so the Gateway applies unchanged.
    served = str(GATEWAY_SERVER_PORT)
    if plan.gateway_port != GATEWAY_SERVER_PORT:
        served += f":{plan.gateway_port}"
    gateway_argv = [*mizzen, "gateway", "run", "--name", GATEWAY, "--labels", GATEWAY_LABELS,
                    "--port", served, "--admin-port", str(plan.gateway_admin_port),
                    "--service", GATEWAY_SERVICE]  # fmt: skip
    children.append(_Child(
        GATEWAY, "gateway", gateway_argv, log_path=logs / f"{GATEWAY}.log", env=env,
        address=f"127.0.0.1:{plan.gateway_port}",
        health_url=f"http://127.0.0.1:{plan.gateway_admin_port}/ready",
        start_timeout=plan.timeout,
    ))  # fmt: skip
    return children


# ---- supervising the children ------------------------------------------------------------


class DemoSupervisor:
    """Starts the children together, restarts any that exits (with backoff), waits for the
    page through the gateway, and stops them: the gateway first, then the rest together.

    ``state`` (a :class:`MeshState` of the children, ``mode="demo"``) is written to
    ``<home>/demo/state.json`` on every change and handed to ``on_change``; it becomes
    READY, with ``MIZZEN_DEMO_URL`` in its ``env``, once the page answers. Use from one event
    loop: :meth:`start`, then :meth:`stop` once.
    """

    def __init__(self, plan: DemoPlan, children: list[_Child],
                 on_change: Callable[[MeshState], None]) -> None:  # fmt: skip
        self.plan = plan
        self.children = children
        self._on_change = on_change
        self._watchers: list[asyncio.Task[None]] = []
        self._stopping = False
        self.state = MeshState(
            home=str(plan.directory.root), supervisor_pid=os.getpid(), mode="demo",
            started_at=time.time(), env={},
            components={c.name: ComponentState(
                name=c.name, kind=c.kind, address=c.address, ports={}, health_url=c.health_url,
                log=str(c.log_path), since=time.time()) for c in children},
        )  # fmt: skip

    def _publish(self) -> None:
        write_state(self.plan.directory.state_path, self.state)
        self._on_change(self.state)

    def _record(self, child: _Child, status: Status, detail: str = "") -> None:
        record = self.state.components[child.name]
        record.status, record.detail, record.since = status, detail, time.time()
        record.pid = child.pid if status in (Status.STARTING, Status.HEALTHY) else None
        self._publish()

    async def _start_one(self, child: _Child) -> None:
        attempt = 1
        while True:
            self._record(child, Status.STARTING)
            try:
                await child.start()
                break
            except ProcessStartError as exc:
                # Another try covers a race lost to something outside (e.g. an agent of
                # another home taking the same loopback address at the same moment).
                if attempt >= _START_ATTEMPTS or self._stopping:
                    self._record(child, Status.FAILED, exc.reason)
                    raise
                log.warning("demo child start failed", child=child.name, error=exc.reason,
                            attempt=attempt)  # fmt: skip
            await asyncio.sleep(_RESTART_INITIAL * attempt)  # the backoff before trying again
            attempt += 1
        self._record(child, Status.HEALTHY)

    async def start(self) -> None:
        """Start every child and wait for a whole page through the gateway. Raises
        :class:`DemoError` (after stopping what started) when that fails."""
        self._publish()
        results = await asyncio.gather(*(self._start_one(c) for c in self.children),
                                       return_exceptions=True)  # fmt: skip
        failures = [r for r in results if isinstance(r, BaseException)]
        if not failures:
            self._watchers = [asyncio.create_task(self._watch(c)) for c in self.children]
            try:
                await self._wait_serving()
            except DemoError as exc:
                failures.append(exc)
        if failures:
            first = failures[0]
            if not isinstance(first, ProcessStartError | DemoError):
                raise first
            message = _failure_message(first)
            self.state.error = message
            await self.stop(failed=True)
            raise DemoError(message)
        self.state.env = {**self.plan.env, READY_VARIABLE: self.plan.url}
        self.state.phase = Phase.READY
        self._publish()
        log.info(
            "demo ready", url=self.plan.url, seconds=round(time.time() - self.state.started_at, 2)
        )

    async def _wait_serving(self) -> None:
        deadline = time.monotonic() + self.plan.timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            try:
                status, body = await http_get("127.0.0.1", self.plan.gateway_port, PAGE, timeout=10)
            except (OSError, TimeoutError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if status == 200 and b'class="error"' not in body:
                    return
                last = f"status {status}" + (", with an error box" if status == 200 else "")
            await asyncio.sleep(_POLL_SECONDS)  # polling the page until it answers
        raise DemoError(f"{self.plan.url} did not answer with the whole page within "
                        f"{self.plan.timeout:.0f}s (last: {last})")  # fmt: skip

    async def _watch(self, child: _Child) -> None:
        record = self.state.components[child.name]
        delay, up_since = _RESTART_INITIAL, time.monotonic()
        while True:
            code = await child.wait()
            if self._stopping:
                return
            if time.monotonic() - up_since >= _RESTART_RESET:
                delay = _RESTART_INITIAL
            record.restarts += 1
            self._record(child, Status.RESTARTING, f"exited with status {code}")
            log.warning(
                "demo child exited", child=child.name, status=code, restarts=record.restarts
            )
            await asyncio.sleep(delay)  # the backoff before restarting it
            delay = min(delay * 2, _RESTART_MAX)
            try:
                await self._start_one(child)
            except ProcessStartError as exc:
                self._record(child, Status.RESTARTING, f"restart failed: {exc.reason}")
                continue
            up_since = time.monotonic()
            self._record(child, Status.HEALTHY, f"restarted after exit status {code}")

    async def stop(self, *, failed: bool = False) -> None:
        """Stop every child: the gateway first (no new requests), then the workloads
        together. Idempotent."""
        if self._stopping:
            return
        self._stopping = True
        for watcher in self._watchers:
            watcher.cancel()
        self.state.phase = Phase.STOPPING
        self._publish()
        gateways = [c for c in self.children if c.kind == "gateway"]
        workloads = [c for c in self.children if c.kind != "gateway"]
        for group in (gateways, workloads):
            await asyncio.gather(*(self._stop_one(c) for c in group))
        self.state.phase = Phase.FAILED if failed else Phase.STOPPED
        self._publish()

    async def _stop_one(self, child: _Child) -> None:
        if child.running:
            self._record(child, Status.STOPPING)
        await child.stop(STOP_GRACE)
        if self.state.components[child.name].status is not Status.FAILED:
            self._record(child, Status.STOPPED)


def _failure_message(error: BaseException) -> str:
    if isinstance(error, ProcessStartError):
        tail = f"\n--- last output of {error.name} ---\n{error.log_tail}" if error.log_tail else ""
        return f"{error.name} did not start: {error.reason}{tail}"
    return str(error)


class _Progress:
    """One line per change of a child (status, pid, restarts), to ``out``."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._seen: dict[str, tuple[Status, int | None, int]] = {}

    def update(self, state: MeshState) -> None:
        """Show what changed in ``state``."""
        for record in state.components.values():
            key = (record.status, record.pid, record.restarts)
            if record.status is Status.PENDING or self._seen.get(record.name) == key:
                continue
            self._seen[record.name] = key
            line = f"  {record.name}: {record.status}"
            line += f" (pid {record.pid})" if record.pid else ""
            line += f" - {record.detail.splitlines()[0]}" if record.detail else ""
            print(line, file=self._out, flush=True)


def read_plan(home: Path) -> DemoPlan | None:
    try:
        return DemoPlan.from_json((home / "demo" / "plan.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None


def stop_mesh_quietly(home: Path) -> None:
    with contextlib.suppress(MeshError):
        stop_mesh(home)


# ---- running it --------------------------------------------------------------------------


async def _mesh_stopped(home: Path) -> None:
    """Return once the mesh in ``home`` is stopping or gone (``mizzen down``)."""
    mesh = MeshHome(home)
    while True:
        state = read_state(mesh.state_path)
        if state is None or state.phase is not Phase.READY or mesh.supervisor_pid() is None:
            return
        await asyncio.sleep(_MESH_POLL_SECONDS)  # polling the mesh's state file


@contextlib.contextmanager
def _stop_signals(stop: asyncio.Event, on_force: Callable[[], None]) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP set ``stop``; another one later forces an exit (after
    ``on_force``). A repeat within :data:`_REPEAT_SECONDS` counts as the same one: wrappers
    such as ``uv run`` (under ``make demo``) pass the terminal's Ctrl-C on to a child that
    has already received it from the terminal."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    first: list[float] = []

    def on_signal() -> None:
        now = time.monotonic()
        if not first:
            first.append(now)
            stop.set()
        elif now - first[0] >= _REPEAT_SECONDS:  # asked again: leave now
            on_force()
            os._exit(130)  # the children die with us (they are bound to this process)

    for signum in signals:
        loop.add_signal_handler(signum, on_signal)
    try:
        yield
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


def _stop_started_mesh(plan: DemoPlan, *, detached: bool) -> Callable[[], None]:
    """What a forced exit does first: ask the mesh this demo started to stop (a signal,
    without waiting), since, unlike the children, it does not die with us."""

    def force() -> None:
        if not plan.started_mesh or detached:
            return
        pid = MeshHome(plan.home).supervisor_pid()
        if pid is not None and pid > 0:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)

    return force


async def supervise(plan: DemoPlan, *, detached: bool) -> int:
    """Run the children until a stop signal or the mesh stopping; 0, or 1 when they did
    not start. The foreground stops the mesh it started; a daemon leaves that to
    ``mizzen demo --down`` or its launcher."""
    from mizzen.runtime import LogFormat, LogLevel, configure_logging

    stream = plan.directory.log_path("supervisor").open("a", buffering=1)
    configure_logging(LogLevel.INFO, LogFormat.JSON, stream=stream)
    try:
        return await _supervise(plan, detached=detached)
    finally:
        stream.close()


async def _supervise(plan: DemoPlan, *, detached: bool) -> int:
    progress = _Progress(sys.stdout)
    supervisor = DemoSupervisor(plan, _children(plan), progress.update)
    stop = asyncio.Event()
    with _stop_signals(stop, _stop_started_mesh(plan, detached=detached)):
        starting = asyncio.create_task(supervisor.start())
        stopping = asyncio.create_task(stop.wait())
        mesh_gone = asyncio.create_task(_mesh_stopped(plan.home))
        await asyncio.wait({starting, stopping, mesh_gone}, return_when=asyncio.FIRST_COMPLETED)
        status = 0
        if not starting.done():
            starting.cancel()
            await asyncio.wait({starting})
            await supervisor.stop()
        elif starting.exception() is not None:
            error = starting.exception()
            print(f"Error: {error}", file=sys.stderr, flush=True)
            status = 1
        else:
            if not detached:
                for line in footer(plan, detached=False):
                    print(line, flush=True)
            await asyncio.wait({stopping, mesh_gone}, return_when=asyncio.FIRST_COMPLETED)
            if mesh_gone.done():
                print(f"mizzen: the mesh in {plan.home} stopped; stopping Bookinfo", flush=True)
            await supervisor.stop()
        for task in (stopping, mesh_gone):
            task.cancel()
    if plan.started_mesh and not detached and not mesh_gone.done():
        print("mizzen: stopping the mesh", flush=True)
        await asyncio.to_thread(stop_mesh_quietly, plan.home)
    print("mizzen: demo stopped", flush=True)
    return status


def footer(plan: DemoPlan, *, detached: bool) -> list[str]:
    """What to print once Bookinfo answers: the URL, commands to try, how to stop."""
    from mizzen.samples.bookinfo import MANIFESTS_DIR, TASKS

    export = [] if plan.home == resolve_home(None) else [f"  export MIZZEN_HOME={plan.home}"]
    discovery = plan.env.get("MIZZEN_AGENT_DISCOVERY_SERVERS", DEFAULT_DISCOVERY)
    flag = "" if discovery == DEFAULT_DISCOVERY else f" --discovery {discovery}"
    stop = ("Stop it with `mizzen demo --down`." if detached
            else "Press Ctrl-C (or run `mizzen demo --down`) to stop.")  # fmt: skip
    stop += " The mesh it started stops too." if plan.started_mesh else " The mesh keeps running."
    tries = []
    for name in TRY_TASKS:
        tries += [f"  mizzen apply -f {MANIFESTS_DIR / name}.yaml", f"      # {TASKS[name]}"]
    return [
        "",
        f"Bookinfo is ready: {plan.url}",
        f"  signed in as jason:  {plan.url}?u=jason",
        "",
        f"Try Istio's Bookinfo tasks (every task YAML is in {MANIFESTS_DIR}):",
        *export,
        *tries,
        "  mizzen get virtualservices -A",
        f"  mizzen proxy-config routes productpage-v1{flag}",
        "",
        stop,
    ]
