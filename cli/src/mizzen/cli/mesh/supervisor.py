"""Start the components in order, keep them running, stop them in reverse order.

The supervisor owns a :class:`~mizzen.cli.mesh.state.MeshState` and reports every change of
it through ``on_change`` (which writes the state file and refreshes the display). A
component that exits on its own is restarted after a backoff that doubles up to a ceiling
and resets once the component has stayed up a while; each restart is counted in the state
and logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

import structlog

from mizzen.cli.mesh.components import Component
from mizzen.cli.mesh.errors import StartError
from mizzen.cli.mesh.state import ComponentState, MeshState, Phase, Status

log = structlog.get_logger(__name__)

OnChange = Callable[[MeshState], None]


def initial_state(components: Sequence[Component], *, home: str, supervisor_pid: int,
                  mode: str, env: dict[str, str]) -> MeshState:  # fmt: skip
    """A fresh record listing ``components`` as pending, in start order."""
    return MeshState(
        home=home,
        supervisor_pid=supervisor_pid,
        mode=mode,
        started_at=time.time(),
        env=dict(env),
        components={
            c.name: ComponentState(name=c.name, kind=c.kind, address=c.address,
                                   ports=dict(c.ports), health_url=c.health_url,
                                   log=str(c.log_path), since=time.time())
            for c in components
        },
    )  # fmt: skip


class Supervisor:
    """Runs ``stages`` of components and records their life in ``state``.

    The stages start one after the other (the services need etcd); the components of a
    stage start concurrently. They stop one by one, in the reverse of the order they
    started in.

    Use from one event loop: :meth:`start` once, then :meth:`stop` once (also after a failed
    start, though :meth:`start` already cleans up after itself). ``state`` is mutated only
    here; ``on_change`` gets it after every change and must not keep a reference it mutates.
    """

    def __init__(self, stages: Sequence[Sequence[Component]], state: MeshState, *,
                 on_change: OnChange, restart_initial: float = 0.2,
                 restart_max: float = 30.0, restart_reset: float = 60.0) -> None:  # fmt: skip
        self._stages = [list(stage) for stage in stages]
        self.state = state
        self._on_change = on_change
        self._restart_initial = restart_initial
        self._restart_max = restart_max
        self._restart_reset = restart_reset
        self._started: list[Component] = []
        self._watchers: list[asyncio.Task[None]] = []
        self._stopping = False

    def _publish(self) -> None:
        self._on_change(self.state)

    def _record(self, component: Component, status: Status, detail: str = "") -> None:
        record = self.state.components[component.name]
        record.status = status
        record.pid = component.pid if status in (Status.STARTING, Status.HEALTHY) else None
        record.detail = detail
        record.since = time.time()
        self._publish()

    async def start(self) -> None:
        """Start the stages in order, each once the previous one is healthy; the components
        of one stage start side by side.

        On the first failure, what started is stopped again (in reverse order), the phase
        becomes FAILED with the error, and :class:`StartError` is raised.
        """
        self.state.phase = Phase.STARTING
        self._publish()
        for stage in self._stages:
            results = await asyncio.gather(
                *(self._start_one(component) for component in stage), return_exceptions=True
            )
            errors = [result for result in results if isinstance(result, BaseException)]
            if errors:
                failure = next((e for e in errors if isinstance(e, StartError)), errors[0])
                self.state.error = str(failure)
                await self._stop_started()
                self.state.phase = Phase.FAILED
                self._publish()
                raise failure
        self.state.phase = Phase.READY
        self._publish()
        log.info("mesh ready", components=list(self.state.components))

    async def _start_one(self, component: Component) -> None:
        self._record(component, Status.STARTING)
        began = time.monotonic()
        # Listed before it is up, so that a stop during its start stops it too.
        self._started.append(component)
        try:
            await component.start()
        except StartError as exc:
            self._started.remove(component)
            self._record(component, Status.FAILED, exc.reason)
            log.error("component start failed", component=component.name, error=exc.reason)
            raise
        self._record(component, Status.HEALTHY)
        log.info("component healthy", component=component.name, pid=component.pid,
                 seconds=round(time.monotonic() - began, 3))  # fmt: skip
        self._watchers.append(
            asyncio.create_task(self._watch(component), name=f"watch-{component.name}")
        )

    async def stop(self) -> None:
        """Stop every started component, in reverse start order; idempotent."""
        if self.state.phase in (Phase.STOPPED, Phase.FAILED) and not self._started:
            return
        failed = self.state.phase is Phase.FAILED
        self.state.phase = Phase.STOPPING
        self._publish()
        await self._stop_started()
        self.state.phase = Phase.FAILED if failed else Phase.STOPPED
        self._publish()
        log.info("mesh stopped")

    async def _stop_started(self) -> None:
        self._stopping = True
        for watcher in self._watchers:
            watcher.cancel()
        for watcher in self._watchers:
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        self._watchers.clear()
        while self._started:
            component = self._started.pop()
            self._record(component, Status.STOPPING)
            await component.stop()
            self._record(component, Status.STOPPED)
            log.info("component stopped", component=component.name)

    async def _watch(self, component: Component) -> None:
        """Restart ``component`` whenever it exits, until the supervisor stops."""
        record = self.state.components[component.name]
        delay = self._restart_initial
        up_since = time.monotonic()
        while True:
            code = await component.wait()
            if self._stopping:
                return
            if time.monotonic() - up_since >= self._restart_reset:
                delay = self._restart_initial
            record.restarts += 1
            self._record(component, Status.RESTARTING, f"exited with status {code}")
            log.warning("component exited", component=component.name, status=code,
                        restart_in_seconds=delay, restarts=record.restarts)  # fmt: skip
            await asyncio.sleep(delay)  # the backoff before trying again
            delay = min(delay * 2, self._restart_max)
            self._record(component, Status.STARTING, record.detail)
            try:
                await component.start()
            except StartError as exc:
                self._record(component, Status.RESTARTING, f"restart failed: {exc.reason}")
                log.error("component restart failed", component=component.name,
                          error=exc.reason)  # fmt: skip
                continue
            up_since = time.monotonic()
            self._record(component, Status.HEALTHY, f"restarted after exit status {code}")
            log.info("component restarted", component=component.name, pid=component.pid,
                     restarts=record.restarts)  # fmt: skip
