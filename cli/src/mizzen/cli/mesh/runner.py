"""Running a mesh in this process: the checks before anything starts, then the supervisor
until a signal.

``mizzen up`` (foreground) and the detached supervisor daemon both end up in
:func:`run_mesh`; only their display differs.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import structlog

from mizzen.cli.mesh.components import (
    BINARIES,
    Component,
    build_process_components,
    mesh_environment,
    resolve_binary,
)
from mizzen.cli.mesh.config import MeshConfig, check_ports
from mizzen.cli.mesh.display import Display
from mizzen.cli.mesh.errors import StartError
from mizzen.cli.mesh.home import HomeLock, MeshHome
from mizzen.cli.mesh.state import MeshState, write_state
from mizzen.cli.mesh.supervisor import Supervisor, initial_state

log = structlog.get_logger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
_FORCED_EXIT = 130  # a second Ctrl-C: leave at once; the children die with us (PDEATHSIG)


@dataclass(frozen=True, slots=True)
class Prepared:
    """What :func:`preflight` established: the home, its held lock, the binaries to run."""

    home: MeshHome
    lock: HomeLock
    binaries: dict[str, Path]


def preflight(config: MeshConfig) -> Prepared:
    """Check everything that can be checked before starting anything, in the order that
    gives the most useful message: the home is writable, no mesh runs in it (its lock is
    taken here and returned), the binaries exist, every port is free.

    Raises :class:`~mizzen.cli.mesh.errors.MeshError` subclasses; on error, the lock is not
    held.
    """
    home = MeshHome(config.home)
    home.prepare()
    lock = home.acquire_lock()
    try:
        binaries = (
            {} if config.all_in_one else {n: resolve_binary(n, config.bin_dir) for n in BINARIES}
        )
        check_ports(config)
    except BaseException:
        lock.release()
        raise
    return Prepared(home, lock, binaries)


def configure_supervisor_logging(home: MeshHome) -> IO[str]:
    """Send this process's structlog and stdlib logging to ``<home>/logs/supervisor.log``
    (JSON lines), keeping the terminal for the display. Returns the open log file."""
    from mizzen.runtime import LogFormat, LogLevel, configure_logging

    stream = home.log_path("supervisor").open("a", buffering=1)
    configure_logging(LogLevel.INFO, LogFormat.JSON, stream=stream)
    return stream


def build_components(config: MeshConfig, prepared: Prepared) -> list[Component]:
    """The components to supervise for ``config``."""
    if config.all_in_one:
        from mizzen.cli.mesh.all_in_one import build_in_process_components

        return list(build_in_process_components(config, prepared.home))
    return list(build_process_components(config, prepared.home, prepared.binaries))


def run_mesh(config: MeshConfig, prepared: Prepared, display: Display) -> int:
    """Run the mesh until SIGINT, SIGTERM or SIGHUP; return the exit status.

    Writes the state file on every change and shows it on ``display``. Returns 1 (after
    stopping whatever started) when a component does not become healthy, 0 after a clean
    stop. A second signal exits at once with status 130.
    """
    stream = configure_supervisor_logging(prepared.home)
    try:
        return asyncio.run(_supervise(config, prepared, display))
    finally:
        display.close()
        prepared.lock.release()
        stream.close()


async def _supervise(config: MeshConfig, prepared: Prepared, display: Display) -> int:
    components = build_components(config, prepared)
    state = initial_state(
        components, home=str(config.home), supervisor_pid=os.getpid(),
        mode="all-in-one" if config.all_in_one else "processes",
        env=mesh_environment(config),
    )  # fmt: skip

    def on_change(current: MeshState) -> None:
        write_state(prepared.home.state_path, current)
        display.update(current)

    # etcd, then NATS, then every service at once: the services need only the store.
    infrastructure = [[c] for c in components if c.kind in ("etcd", "nats")]
    services = [c for c in components if c.kind not in ("etcd", "nats")]
    supervisor = Supervisor(
        [*infrastructure, services], state, on_change=on_change,
        restart_initial=config.restart_initial_seconds,
        restart_max=config.restart_max_seconds,
        restart_reset=config.restart_reset_seconds,
    )  # fmt: skip
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def on_signal(signum: int) -> None:
        if stop_requested.is_set():
            log.warning("stop forced", signal=signal.Signals(signum).name)
            os._exit(_FORCED_EXIT)
        log.info("stop requested", signal=signal.Signals(signum).name)
        stop_requested.set()

    for signum in signals:
        loop.add_signal_handler(signum, on_signal, int(signum))
    log.info("mesh starting", home=str(config.home), mode=state.mode, pid=os.getpid())
    try:
        starting = asyncio.create_task(supervisor.start(), name="mesh-start")
        stopping = asyncio.create_task(stop_requested.wait(), name="stop-requested")
        await asyncio.wait((starting, stopping), return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # asked to stop while starting
            starting.cancel()
            await asyncio.wait((starting,))
            await supervisor.stop()
            return EXIT_OK
        failure = starting.exception()
        if failure is not None:  # the supervisor already stopped what had started
            stopping.cancel()
            if isinstance(failure, StartError):
                return EXIT_FAILED
            raise failure
        await stopping
        await supervisor.stop()
        return EXIT_OK
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
