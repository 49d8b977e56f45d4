"""``mizzen demo``: a local mesh, Bookinfo and an ingress gateway, in one command.

In order:

1. check what can be checked before starting anything: no demo runs in this home, the
   gateway's and the apps' ports are free, Envoy and the sample are installed;
2. reuse the mesh running in the home, or start one as ``mizzen up --detach`` does;
3. apply Bookinfo's DestinationRules (the subsets) and its Gateway + VirtualService;
4. run every Bookinfo workload and the ingress gateway as supervised children
   (:mod:`mizzen.cli.demo_run`);
5. wait until ``http://127.0.0.1:<port>/productpage`` answers 200 with a whole page
   through the gateway, then print the URL, what to try and how to stop.

In the foreground it then runs until Ctrl-C, SIGTERM, ``mizzen demo --down`` or the mesh
stopping (``mizzen down``); the children stop, then the mesh if the demo started it. With
``--detach``, steps 4-5 run in a daemon (this same command, with a hidden option and the
demo's lock handed over as an open descriptor) and the command returns once the page
answers; ``mizzen demo --down`` stops the daemon, then the mesh if the demo started it.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click

from mizzen.cli.client import applied_by, call
from mizzen.cli.demo_run import (
    DEFAULT_APP_PORT_BASE,
    DEFAULT_GATEWAY_ADMIN_PORT,
    DEFAULT_GATEWAY_PORT,
    READY_VARIABLE,
    STOP_GRACE,
    DemoError,
    DemoPlan,
    footer,
    mizzen_argv,
    read_plan,
    stop_mesh_quietly,
    supervise,
)
from mizzen.cli.mesh import (
    PORT_ROLES,
    MeshConfig,
    MeshError,
    MeshHome,
    MeshPorts,
    MeshState,
    NotRunningError,
    Phase,
    PortInUseError,
    launch_detached,
    make_display,
    mesh_status,
    preflight,
    read_state,
    render_table,
    resolve_home,
    running_mesh_environment,
    stop_mesh,
)
from mizzen.cli.mesh.home import HomeLock
from mizzen.launcher import BinaryNotFoundError, find_binary, is_port_free
from mizzen.protos.config.v1 import config_pb2 as pb

_POLL_SECONDS = 0.1

# ---- before anything starts --------------------------------------------------------------


def _check_port(port: int, what: str, flag: str) -> None:
    if not 0 < port < 65536:
        raise DemoError(f"port {port} ({what}) is not a valid port; check {flag} and "
                        "--port-offset")  # fmt: skip
    # A listener on 0.0.0.0 or 127.0.0.1 makes this bind fail (connections in TIME_WAIT
    # do not: SO_REUSEADDR, as Envoy sets it).
    if not is_port_free("127.0.0.1", port):
        raise DemoError(f"port {port} ({what}) is already in use; free it, or choose another "
                        f"port with {flag} or shift every port with --port-offset")  # fmt: skip


def ports_at_offset(offset: int) -> list[int]:
    """Every port ``mizzen demo --port-offset <offset>`` uses when it starts the mesh too."""
    from mizzen.samples.bookinfo import WORKLOADS

    mesh = [role.default + offset for role in PORT_ROLES]
    apps = [DEFAULT_APP_PORT_BASE + offset + index for index in range(len(WORKLOADS))]
    return [*mesh, DEFAULT_GATEWAY_PORT + offset, DEFAULT_GATEWAY_ADMIN_PORT + offset, *apps]


def find_free_port_offset(*, low: int = 1000, high: int = 13000, step: int = 7,
                          seed: int | None = None) -> int:  # fmt: skip
    """A port offset in ``[low, high)`` at which every port of :func:`ports_at_offset` can be
    bound now (on 127.0.0.1). The defaults keep every port below Linux's ephemeral range, so
    no outgoing connection takes one meanwhile. Raises ``RuntimeError`` when none is free."""
    candidates = list(range(low, high, step))
    random.Random(seed).shuffle(candidates)
    for offset in candidates:
        if all(is_port_free("127.0.0.1", port) for port in ports_at_offset(offset)):
            return offset
    raise RuntimeError(f"no port offset in [{low}, {high}) has all of its ports free")


@dataclass(frozen=True, slots=True)
class _Ports:
    """The demo's own ports: the gateway's, its admin's, and each app's (by workload)."""

    gateway: int
    gateway_admin: int
    apps: dict[str, int]

    @classmethod
    def build(cls, offset: int, gateway: int | None, gateway_admin: int | None,
              app_base: int | None) -> _Ports:  # fmt: skip
        from mizzen.samples.bookinfo import WORKLOADS

        base = app_base if app_base is not None else DEFAULT_APP_PORT_BASE + offset
        return cls(
            gateway if gateway is not None else DEFAULT_GATEWAY_PORT + offset,
            gateway_admin if gateway_admin is not None else DEFAULT_GATEWAY_ADMIN_PORT + offset,
            {w.name: base + index for index, w in enumerate(WORKLOADS)},
        )

    def check(self) -> None:
        """Raise :class:`DemoError` for the first port that is invalid, given twice or in
        use."""
        roles = [(self.gateway, "the ingress gateway", "--gateway-port"),
                 (self.gateway_admin, "the ingress gateway's admin", "--gateway-admin-port"),
                 *((port, f"the app of {name}", "--app-port-base")
                   for name, port in self.apps.items())]  # fmt: skip
        seen: dict[int, str] = {}
        for port, what, flag in roles:
            if port in seen:
                raise DemoError(f"port {port} is given to {seen[port]} and to {what}; "
                                f"check {flag}")  # fmt: skip
            seen[port] = what
            _check_port(port, what, flag)


def _preflight(home: Path, ports: _Ports) -> HomeLock:
    """Check, in the order that gives the most useful message, and take the demo's lock."""
    try:
        import mizzen.samples.bookinfo  # noqa: F401  (only checking it is installed)
    except ImportError as exc:
        raise DemoError("the Bookinfo sample is not installed: install the package "
                        "'mizzen-samples' into this environment") from exc  # fmt: skip
    try:
        find_binary("envoy")
    except BinaryNotFoundError as exc:
        raise DemoError(str(exc)) from exc
    directory = MeshHome(home / "demo")
    try:
        directory.logs_dir.mkdir(parents=True, exist_ok=True)
        lock = directory.acquire_lock()
    except OSError as exc:
        raise DemoError(f"cannot use {home} as the mesh's home ({exc.strerror or exc}); set "
                        "MIZZEN_HOME or --home to a writable directory") from exc  # fmt: skip
    except MeshError as exc:  # AlreadyRunningError
        plan = read_plan(home)
        where = f" at {plan.url}" if plan else ""
        raise DemoError(f"a demo is already running in {home}{where}; stop it with "
                        f"`mizzen demo --down`, or use another --home") from exc  # fmt: skip
    try:
        ports.check()
    except BaseException:
        lock.release()
        raise
    return lock


def _ensure_mesh(home: Path, offset: int, timeout: float) -> tuple[dict[str, str], bool]:
    """The running mesh's environment, starting a mesh first when none runs in ``home``;
    and whether it was started here."""
    env = running_mesh_environment(home)
    if env is not None:
        click.echo(f"mizzen: using the mesh already running in {home}")
        return env, False
    try:
        config = MeshConfig(home=home, ports=MeshPorts.build(offset=offset),
                            start_timeout_seconds=timeout)  # fmt: skip
        prepared = preflight(config)
    except PortInUseError as exc:  # its advice names `mizzen up`'s flags: give ours
        raise DemoError(
            f"port {exc.port} ({exc.component} {exc.role}) is already in use; free it, shift "
            f"every port with --port-offset, or start the mesh yourself (`mizzen up "
            f"{exc.flag} ...`) and run `mizzen demo` again to use it"
        ) from exc
    except MeshError as exc:
        raise DemoError(str(exc)) from exc
    display = make_display(sys.stdout, stop_hint="Starting Bookinfo next.")
    try:
        state = launch_detached(config, prepared, display, timeout=timeout * 6)
    except MeshError as exc:
        raise DemoError(f"{exc}\nLogs: {prepared.home.logs_dir}") from exc
    finally:
        display.close()
    return dict(state.env), True


async def _apply_defaults(server: str) -> list[str]:
    from mizzen.samples.bookinfo import DEFAULT_MANIFESTS, manifest_path

    paths = [manifest_path(name) for name in DEFAULT_MANIFESTS]
    files = [pb.SourceFile(name=str(path), content=path.read_text()) for path in paths]
    request = pb.ApplyRequest(files=files, applied_by=applied_by(), default_namespace="default")
    response = await call(server, lambda stub: stub.Apply(request, timeout=30))
    return [f"{r.resource.kind.lower()}/{r.resource.name}" for r in response.results]


def _launch_daemon(plan: DemoPlan, lock: HomeLock) -> MeshState:
    """Run the children in a daemon holding the demo's lock; return its state once the
    page answers. Raises :class:`DemoError` (the daemon stopped) when it does not."""
    directory = plan.directory
    argv = [*mizzen_argv(), "demo", "--home", str(plan.home),
            "--supervise-lock-fd", str(lock.fd)]  # fmt: skip
    with directory.log_path("supervisor").open("ab") as output:
        daemon = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            pass_fds=(lock.fd,), start_new_session=True, close_fds=True,
        )  # fmt: skip
    lock.release()  # the daemon holds it from here on
    deadline = time.monotonic() + plan.timeout * 2 + 60
    try:
        while True:
            state = read_state(directory.state_path)
            if state is not None and state.supervisor_pid == daemon.pid:
                if state.phase is Phase.READY and READY_VARIABLE in state.env:
                    return state
                if state.phase is Phase.FAILED:
                    daemon.wait(timeout=60)
                    raise DemoError(state.error or "Bookinfo did not start")
            code = daemon.poll()
            if code is not None:
                raise DemoError(f"the demo's supervisor exited with status {code}; see "
                                f"{directory.log_path('supervisor')}")  # fmt: skip
            if time.monotonic() > deadline:
                raise DemoError(f"Bookinfo was not ready in time; see {directory.logs_dir}")
            time.sleep(_POLL_SECONDS)  # waiting on the daemon's state file
    except BaseException:
        if daemon.poll() is None:
            daemon.terminate()
            daemon.wait(timeout=STOP_GRACE * 2)
        raise


def _down(home: Path) -> None:
    """Stop the demo running in ``home`` (whichever process supervises it), then the mesh if
    the demo started it; say what was done."""
    plan = read_plan(home)
    try:
        report = stop_mesh(home / "demo", timeout=STOP_GRACE * 2)
        names = ", ".join(report.state.components) if report.state else "Bookinfo"
        parts = [f"stopped {names}"]
    except NotRunningError:
        parts = [f"no demo is running in {home}"]
    except MeshError as exc:
        raise DemoError(str(exc)) from exc
    mesh_running = MeshHome(home).supervisor_pid() is not None
    if plan is not None and plan.started_mesh and mesh_running:
        try:
            stop_mesh(home)
        except NotRunningError:
            pass  # it stopped meanwhile (a foreground demo stops its own mesh)
        except MeshError as exc:
            raise DemoError(str(exc)) from exc
        parts.append("stopped the mesh it started")
    elif plan is not None and mesh_running:
        parts.append("the mesh keeps running (the demo did not start it; `mizzen down` "
                     "stops it)")  # fmt: skip
    click.echo(f"mizzen: {'; '.join(parts)} ({home})")


def _status(home: Path) -> None:
    """Print the demo's children with their probed health; exit 1 unless all are healthy."""
    try:
        report = mesh_status(home / "demo")
    except NotRunningError:
        click.echo(f"mizzen: no demo has run in {home}")
        sys.exit(1)
    plan = read_plan(home)
    where = f" at {plan.url}" if plan and report.running else ""
    click.echo(f"mizzen: Bookinfo {'running' if report.running else 'not running'}{where}")
    for line in render_table(report.state, health=report.health, color=sys.stdout.isatty()):
        click.echo(line)
    if not report.healthy:
        sys.exit(1)


# ---- the command -------------------------------------------------------------------------


@click.command(
    "demo",
    epilog="""\b
Examples:
  mizzen demo                        mesh + Bookinfo + gateway; open the printed URL
  mizzen demo --detach               return once http://127.0.0.1:8080/productpage answers
  mizzen demo --down                 stop Bookinfo (and the mesh, if the demo started it)
  mizzen demo --port-offset 1000     mesh ports +1000, gateway on 9080, apps from 20080
\b
Reuses the mesh running in MIZZEN_HOME, or starts one. Logs: MIZZEN_HOME/demo/logs/.
""",
)
@click.option("--home", envvar="MIZZEN_HOME", metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="The mesh's state directory [MIZZEN_HOME or ~/.mizzen].")  # fmt: skip
@click.option(
    "--detach",
    "-d",
    is_flag=True,
    help="Return once the page answers; Bookinfo keeps running in the background.",
)
@click.option(
    "--down", is_flag=True, help="Stop a running demo (and the mesh, if the demo started it)."
)
@click.option("--status", "show_status", is_flag=True, help="Show the demo's processes.")
@click.option(
    "--port-offset",
    type=int,
    default=0,
    show_default=True,
    help="Added to every default port: the mesh's, the gateway's, the apps'.",
)
@click.option(
    "--gateway-port",
    type=int,
    default=None,
    metavar="PORT",
    help=f"The ingress gateway's port [{DEFAULT_GATEWAY_PORT} + offset].",
)
@click.option(
    "--gateway-admin-port",
    type=int,
    default=None,
    metavar="PORT",
    help=f"The ingress gateway's Envoy admin port [{DEFAULT_GATEWAY_ADMIN_PORT} + offset].",
)
@click.option("--app-port-base", type=int, default=None, metavar="PORT",
              help=f"The apps listen on 127.0.0.1 from this port up "
                   f"[{DEFAULT_APP_PORT_BASE} + offset].")  # fmt: skip
@click.option(
    "--timeout",
    type=click.FloatRange(min=1.0),
    default=120.0,
    show_default=True,
    metavar="SECONDS",
    help="How long the mesh and the page may take to be ready.",
)
@click.option("--supervise-lock-fd", type=int, default=None, hidden=True)
def demo(*, home: Path | None, detach: bool, down: bool, show_status: bool, port_offset: int,
         gateway_port: int | None, gateway_admin_port: int | None,
         app_port_base: int | None, timeout: float,
         supervise_lock_fd: int | None) -> None:  # fmt: skip
    """Start a local mesh with Bookinfo (productpage, details, reviews v1-v3, ratings, each
    beside its own Envoy) behind an ingress gateway, and print the URL to open."""
    home_path = resolve_home(home)
    if down:
        _down(home_path)
        return
    if show_status:
        _status(home_path)
        return
    if supervise_lock_fd is not None:  # the daemon behind --detach
        lock = HomeLock.adopt(supervise_lock_fd)
        plan = read_plan(home_path)
        if plan is None:
            raise DemoError(f"no readable plan in {home_path / 'demo'}")
        try:
            sys.exit(asyncio.run(supervise(plan, detached=True)))
        finally:
            lock.release()
    ports = _Ports.build(port_offset, gateway_port, gateway_admin_port, app_port_base)
    lock = _preflight(home_path, ports)
    try:
        env, started_mesh = _ensure_mesh(home_path, port_offset, timeout)
        plan = DemoPlan(home=home_path, gateway_port=ports.gateway,
                        gateway_admin_port=ports.gateway_admin, app_ports=ports.apps, env=env,
                        started_mesh=started_mesh, timeout=timeout)  # fmt: skip
        try:
            applied = asyncio.run(_apply_defaults(env["MIZZEN_SERVER"]))
            click.echo(f"mizzen: applied {', '.join(applied)}")
            (plan.directory.root / "plan.json").write_text(plan.to_json())
            if detach:
                _launch_daemon(plan, lock)
                for line in footer(plan, detached=True):
                    click.echo(line)
                return
        except BaseException:
            if started_mesh:
                stop_mesh_quietly(home_path)
            raise
        status = asyncio.run(supervise(plan, detached=False))
    finally:
        lock.release()
    sys.exit(status)


__all__ = ["demo", "find_free_port_offset", "ports_at_offset"]
