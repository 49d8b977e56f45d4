"""Talking to a mesh run by another process: detach, stop, inspect, find its addresses.

The state file and the home's lock are the whole interface: the supervisor writes the one
and holds the other; nothing here needs a socket to the supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mizzen.cli.mesh.components import check_process_exists, probe_health
from mizzen.cli.mesh.config import MeshConfig
from mizzen.cli.mesh.display import Display
from mizzen.cli.mesh.errors import MeshError, NotRunningError, StartError
from mizzen.cli.mesh.home import MeshHome, resolve_home
from mizzen.cli.mesh.runner import Prepared
from mizzen.cli.mesh.state import MeshState, Phase, Status, read_state

_POLL_SECONDS = 0.05


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def launch_detached(config: MeshConfig, prepared: Prepared, display: Display,
                    *, timeout: float) -> MeshState:  # fmt: skip
    """Start the supervisor as a daemon (its own session, no terminal) and return its state
    once every component is healthy.

    The home's lock, taken by :func:`~mizzen.cli.mesh.runner.preflight`, is handed to the
    daemon as an open descriptor, so the home is never unlocked in between. Progress is shown
    on ``display`` from the state file. Raises :class:`StartError` when the daemon fails or
    is not ready within ``timeout`` seconds (it is stopped then), :class:`MeshError` with the
    daemon's own error when a component failed; Ctrl-C while waiting stops it too.
    """
    home = prepared.home
    argv = [sys.executable, "-m", "mizzen.cli.mesh", "--lock-fd", str(prepared.lock.fd),
            "--config", config.to_json()]  # fmt: skip
    with home.log_path("supervisor").open("ab") as output:
        daemon = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            pass_fds=(prepared.lock.fd,), start_new_session=True, close_fds=True,
        )  # fmt: skip
    # From here on the daemon holds the lock too; ours goes when we return.
    prepared.lock.release()
    deadline = time.monotonic() + timeout
    try:
        while True:
            state = read_state(home.state_path)
            if state is not None and state.supervisor_pid == daemon.pid:
                display.update(state)
                if state.phase is Phase.READY:
                    return state
                if state.phase is Phase.FAILED:
                    daemon.wait(timeout=timeout)
                    raise MeshError(state.error or "a component did not start")
            code = daemon.poll()
            if code is not None:
                raise StartError("the supervisor", f"exited with status {code}",
                                 log_tail=_tail(home.log_path("supervisor")))  # fmt: skip
            if time.monotonic() > deadline:
                _terminate(daemon)
                raise StartError("the mesh", f"not ready within {timeout:.0f}s; it was stopped")
            time.sleep(_POLL_SECONDS)  # waiting on the daemon's state file
    except KeyboardInterrupt:
        _terminate(daemon)
        raise


def _terminate(daemon: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        daemon.send_signal(signal.SIGTERM)
    try:
        daemon.wait(timeout=30)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()


@dataclass(frozen=True, slots=True)
class StopReport:
    """What :func:`stop_mesh` stopped and how long it took."""

    state: MeshState | None
    seconds: float


def stop_mesh(home_path: Path, *, timeout: float = 60.0,
              on_wait: Callable[[], None] | None = None) -> StopReport:  # fmt: skip
    """Stop the mesh running in ``home_path``: SIGTERM its supervisor (which stops every
    component in reverse order), then wait until the supervisor and every pid in the state
    file are gone. After ``timeout`` the supervisor is killed (its children die with it).

    Raises :class:`NotRunningError` when no supervisor holds the home, and
    :class:`MeshError` naming the pids that would not go away.
    """
    home = MeshHome(home_path)
    began = time.monotonic()
    pid = home.supervisor_pid()
    state = read_state(home.state_path)
    if pid is None:
        raise NotRunningError(home_path)
    if pid < 0:  # a holder that did not record itself: its state file knows it
        if state is None:
            raise MeshError(f"the mesh in {home_path} is locked by an unknown process")
        pid = state.supervisor_pid
    watched = {pid} | (state.pids() if state and state.supervisor_pid == pid else set())
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    killed = False
    while True:
        alive = {p for p in watched if check_process_exists(p)}
        if not alive and home.supervisor_pid() is None:
            break
        now = time.monotonic()
        if now > deadline and not killed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed, deadline = True, now + 10.0
        elif now > deadline:
            listed = ", ".join(str(p) for p in sorted(alive))
            raise MeshError(f"these processes of the mesh in {home_path} did not stop: {listed}")
        if on_wait is not None:
            on_wait()
        time.sleep(_POLL_SECONDS)  # waiting for the processes to be gone
    return StopReport(read_state(home.state_path), time.monotonic() - began)


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A running mesh as seen now: its record, and each component's probed health."""

    state: MeshState
    running: bool
    health: dict[str, str]

    @property
    def healthy(self) -> bool:
        """Whether the supervisor runs and every component answered healthy."""
        return self.running and all(h == "healthy" for h in self.health.values())


def mesh_status(home_path: Path, *, timeout: float = 1.0) -> StatusReport:
    """Probe every component of the mesh in ``home_path`` (etcd ``/health``, NATS
    ``/healthz``, services ``/readyz``, each pid alive).

    Raises :class:`NotRunningError` when the home has never run a mesh. A mesh whose
    supervisor is gone is reported with ``running=False`` and every component ``down``.
    """
    home = MeshHome(home_path)
    state = read_state(home.state_path)
    if state is None:
        raise NotRunningError(home_path, "no state file")
    running = home.supervisor_pid() is not None and state.phase is not Phase.STOPPED
    health = {name: "down" for name in state.components}
    if running:
        health = asyncio.run(_probe_all(state, timeout))
    return StatusReport(state, running, health)


async def _probe_all(state: MeshState, timeout: float) -> dict[str, str]:
    async def one(name: str) -> tuple[str, str]:
        record = state.components[name]
        if not record.pid or not check_process_exists(record.pid):
            return name, "down"
        if record.status is not Status.HEALTHY:
            return name, "unhealthy"
        ok = await probe_health(record.health_url, timeout=timeout)
        return name, "healthy" if ok else "unhealthy"

    results = await asyncio.gather(*(one(name) for name in state.components))
    return dict(results)


def running_mesh_environment(home: Path | str | None = None,
                             environ: Mapping[str, str] | None = None
                             ) -> dict[str, str] | None:  # fmt: skip
    """The environment published by the mesh running in ``home`` (default: ``MIZZEN_HOME``
    or ``~/.mizzen``), or ``None`` when no mesh runs there. Never raises."""
    try:
        mesh_home = MeshHome(resolve_home(home, environ))
        if mesh_home.supervisor_pid() is None:
            return None
        state = read_state(mesh_home.state_path)
    except OSError:
        return None
    if state is None or state.phase is not Phase.READY:
        return None
    return dict(state.env)


def mesh_server_address(home: Path | str | None = None,
                        environ: Mapping[str, str] | None = None) -> str | None:  # fmt: skip
    """The config API (translator) address of the mesh running in ``home``, or ``None``.

    For the CLI's ``--server`` default: ``MIZZEN_SERVER`` and ``--server`` win; then this;
    then ``127.0.0.1:15011``.
    """
    env = running_mesh_environment(home, environ)
    return env.get("MIZZEN_SERVER") if env else None


def environment_with_mesh_defaults(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default ``os.environ``) over the running mesh's published environment:
    what ``mizzen workload run`` and ``mizzen gateway run`` read their settings from, so that
    they find the local mesh's xds and discovery without exports, while explicit variables
    still win."""
    current = dict(os.environ if environ is None else environ)
    return {**(running_mesh_environment(environ=current) or {}), **current}
