"""Builds an agent's parts and runs a workload: address, Envoy, registration, app, cleanup.

The life of ``mizzen workload run``:

1. take the workload's loopback address (a lock held for the agent's lifetime);
2. write Envoy's bootstrap and start Envoy; wait until it is ready (it has its config);
3. register the workload with discovery (UNHEALTHY until the app's ports accept
   connections, when the health probe is on);
4. start the app with its proxy and ``MIZZEN_*`` variables;
5. supervise: restart Envoy if it dies, keep the registration alive across discovery
   replicas, follow the app's health;
6. when the app exits: deregister, stop Envoy, release the address, and exit with the app's
   status. On SIGTERM/SIGINT/SIGHUP: deregister first (traffic stops coming), forward the
   signal to the app, give it the grace period, then the same cleanup. A second signal kills
   the app at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

import structlog

from mizzen.agent.addresses import allocate_address, machine_lock_dir
from mizzen.agent.app_process import AppProcess
from mizzen.agent.config import AgentSettings
from mizzen.agent.domain.bootstrap import ADMIN_PORT, bootstrap_config, parse_server_address
from mizzen.agent.domain.environment import app_environment
from mizzen.agent.domain.workload import WorkloadSpec, exit_status_of
from mizzen.agent.errors import AgentError
from mizzen.agent.health import AppProbe
from mizzen.agent.proxy import ProxySupervisor
from mizzen.agent.registration import (
    DEREGISTER_TIMEOUT,
    raise_for_registration,
    registered_or_failed,
    workload_message,
)
from mizzen.envoy import build_bootstrap
from mizzen.protos.registry.v1 import registration_pb2 as pb
from mizzen.registration import Registrar
from mizzen.runtime import bound_log_context, configure_logging, install_signal_handlers

__all__ = ["Agent", "run_workload", "serve_workload"]

log = structlog.get_logger(__name__)
T = TypeVar("T")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
PROBE_INTERVAL_UNHEALTHY = 0.1
PROBE_INTERVAL_HEALTHY = 1.0
PROXY_STOP_GRACE = 5.0


class _Stopped(Exception):
    """A stop signal arrived while the agent was starting."""


class Agent:
    """One workload's agent, on an address it already holds. :meth:`run` does steps 2-6 of
    the module docstring and returns the app's exit status; it raises :class:`AgentError`
    (after cleaning up) when the workload cannot run. Use once, from the main thread."""

    def __init__(
        self,
        spec: WorkloadSpec,
        settings: AgentSettings,
        address: str,
        *,
        inherited_env: Mapping[str, str],
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.address = address
        xds = [parse_server_address(s, option="--xds") for s in settings.xds_servers]
        discovery = list(settings.discovery_servers)
        for target in discovery:
            parse_server_address(target, option="--discovery")
        bootstrap = build_bootstrap(
            bootstrap_config(
                spec, address, xds_servers=xds, delta=settings.delta,
                initial_fetch_timeout=settings.initial_fetch_timeout_seconds,
            )
        )  # fmt: skip
        self.proxy = ProxySupervisor(
            settings.home_dir / "workloads" / address,
            bootstrap,
            admin_host=address,
            admin_port=ADMIN_PORT,
            ready_timeout=settings.proxy_ready_timeout_seconds,
            log_level=settings.envoy_log_level,
            concurrency=settings.envoy_concurrency,
            binary=settings.envoy_binary,
            on_state=self._on_proxy_state,
        )
        self.registrar: Registrar | None = None
        if spec.services:
            health = pb.HEALTH_UNHEALTHY if settings.health_probe else pb.HEALTH_HEALTHY
            self.registrar = Registrar(
                discovery, workload_message(spec, address, health),
                first_deadline=settings.registration_timeout_seconds,
            )  # fmt: skip
        self.app = AppProcess(spec.command, app_environment(spec, address, inherited_env))
        self._probe = AppProbe([p.app_port for p in spec.ports], address)
        self._proxy_ready = False
        self._app_ok = not settings.health_probe
        self._stop_signal: int | None = None
        self._stop_event = asyncio.Event()

    def _on_proxy_state(self, ready: bool) -> None:
        self._proxy_ready = ready
        self._update_health()

    def _update_health(self) -> None:
        if self.registrar is not None:
            healthy = self._proxy_ready and self._app_ok
            self.registrar.set_health(pb.HEALTH_HEALTHY if healthy else pb.HEALTH_UNHEALTHY)

    def _on_signal(self, signum: int) -> None:
        if self._stop_signal is None:
            self._stop_signal = signum
            log.info("stop signal received", signal=signal.Signals(signum).name)
            self._stop_event.set()
        else:
            log.warning("second stop signal: killing the app", signal=signal.Signals(signum).name)
            self.app.kill_group()

    async def _unless_stopped(self, step: Awaitable[T]) -> T:
        """Run a start-up step; a stop signal cancels it and raises :class:`_Stopped`."""
        task = asyncio.ensure_future(step)
        stop = asyncio.ensure_future(self._stop_event.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            raise _Stopped
        return task.result()

    async def run(self) -> int:
        """Run the workload to its end; the app's exit status (see the class doc)."""
        with install_signal_handlers(self._on_signal, STOP_SIGNALS):
            tasks: list[asyncio.Task[None]] = []
            try:
                return await self._run(tasks)
            except _Stopped:
                assert self._stop_signal is not None
                log.info("stopped before the app started")
                return 128 + self._stop_signal
            finally:
                await self._cleanup(tasks)

    async def _run(self, tasks: list[asyncio.Task[None]]) -> int:
        await self._unless_stopped(self.proxy.start())
        tasks.append(asyncio.create_task(self.proxy.supervise(), name="proxy-supervisor"))
        registration: asyncio.Task[None] | None = None
        if self.registrar is None:
            log.info("workload not registered: it serves no --service")
        else:
            registration = self.registrar.start()
            await self._unless_stopped(registered_or_failed(self.registrar, registration))
        await self.app.start()  # AppStartError: cleanup, then the CLI exits 127/126
        if self.settings.health_probe and self.registrar is not None:
            tasks.append(asyncio.create_task(self._probe_app(), name="app-probe"))
        app_exit = asyncio.ensure_future(self.app.wait())
        stop = asyncio.ensure_future(self._stop_event.wait())
        watched: set[asyncio.Future[Any]] = {app_exit, stop}
        if registration is not None:
            watched.add(registration)  # it ends, before a stop, only with an error
        try:
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if registration is not None and registration.done() and not app_exit.done():
            raise_for_registration(registration)  # RegistrationError; cleanup stops the app
            raise AgentError("the registration ended while the app was running")
        if not app_exit.done():
            assert self._stop_signal is not None
            # Traffic first: leave the registry before the app starts shutting down.
            if self.registrar is not None:
                await self.registrar.stop(deregister=True, timeout=DEREGISTER_TIMEOUT)
            await self.app.stop(self._stop_signal, self.settings.shutdown_grace_seconds)
        status = exit_status_of(await app_exit)
        log.info("app exited", status=status)
        return status

    async def _probe_app(self) -> None:
        while True:
            ok = await self._probe.check()
            if ok != self._app_ok:
                self._app_ok = ok
                log.info("app health changed", serving=ok)
                self._update_health()
            await asyncio.sleep(  # the probe's period, not a synchronization
                PROBE_INTERVAL_HEALTHY if ok else PROBE_INTERVAL_UNHEALTHY
            )

    async def _cleanup(self, tasks: list[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.registrar is not None:
            await self.registrar.stop(deregister=True, timeout=DEREGISTER_TIMEOUT)
        if self.app.running:
            await self.app.stop(signal.SIGTERM, self.settings.shutdown_grace_seconds)
        self.app.kill_group()
        await self.proxy.stop(min(PROXY_STOP_GRACE, self.settings.shutdown_grace_seconds))


async def serve_workload(spec: WorkloadSpec, settings: AgentSettings,
                         inherited_env: Mapping[str, str]) -> int:  # fmt: skip
    """Allocate the workload's address, run its :class:`Agent`, release the address; the
    app's exit status. Raises :class:`AgentError` when the workload cannot run."""
    owner = f"{spec.name}.{spec.namespace}"
    lease = allocate_address(machine_lock_dir(), owner=owner, forced=spec.address)
    with lease, bound_log_context(workload=owner, address=lease.address):
        agent = Agent(spec, settings, lease.address, inherited_env=inherited_env)
        return await agent.run()


def run_workload(spec: WorkloadSpec, settings: AgentSettings) -> int:
    """The blocking entry of ``mizzen workload run``: configure logging (to stderr, keeping
    stdout for the app), run :func:`serve_workload` and return the exit status. The app
    inherits this process's environment. Raises :class:`AgentError`."""
    configure_logging(settings.log_level, settings.log_format, stream=sys.stderr)
    return asyncio.run(serve_workload(spec, settings, dict(os.environ)))
