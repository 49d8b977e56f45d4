"""The workload's Envoy: started once ready, restarted with backoff whenever it dies."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from mizzen.agent.errors import ProxyError
from mizzen.launcher import EnvoyProcess, LauncherError, ProcessStartError
from mizzen.runtime import Backoff

__all__ = ["ProxySupervisor"]

log = structlog.get_logger(__name__)

StateCallback = Callable[[bool], None]


class ProxySupervisor:
    """Runs one Envoy from ``bootstrap`` in ``work_dir`` and keeps it running.

    :meth:`start` returns once Envoy is ready (admin ``/ready`` is LIVE, i.e. it has its
    config) or raises :class:`ProxyError` (binary missing, early exit, not ready within
    ``ready_timeout``). :meth:`supervise` then waits for Envoy to exit and restarts it, with
    exponential backoff, for as long as it runs; ``on_state(running_and_ready)`` is called on
    every change. :meth:`stop` ends both. One instance per agent, used from one event loop.
    """

    def __init__(
        self,
        work_dir: Path,
        bootstrap: dict[str, Any],
        *,
        admin_host: str,
        admin_port: int,
        ready_timeout: float,
        log_level: str = "warning",
        concurrency: int = 1,
        binary: Path | None = None,
        backoff: Backoff | None = None,
        on_state: StateCallback | None = None,
    ) -> None:
        self._work_dir = work_dir
        self._bootstrap = bootstrap
        self._admin_host = admin_host
        self._admin_port = admin_port
        self._ready_timeout = ready_timeout
        self._log_level = log_level
        self._concurrency = concurrency
        self._binary = binary
        self._backoff = backoff or Backoff(base=0.5, maximum=30.0)
        self._on_state = on_state or (lambda _ready: None)
        self._process: EnvoyProcess | None = None
        self._stopping = False
        self.restarts = 0
        """How many times Envoy was restarted after dying."""

    @property
    def process(self) -> EnvoyProcess | None:
        """The Envoy process object (after :meth:`start`)."""
        return self._process

    @property
    def pid(self) -> int | None:
        """Envoy's pid while it runs."""
        return self._process.pid if self._process else None

    @property
    def log_path(self) -> Path:
        """Where Envoy's output goes (appended across restarts)."""
        return self._work_dir / "envoy.log"

    def _create(self) -> EnvoyProcess:
        if self._binary is not None and not (
            self._binary.is_file() and os.access(self._binary, os.X_OK)
        ):
            raise ProxyError(f"cannot run Envoy: {self._binary} is not an executable file")
        self.log_path.unlink(missing_ok=True)  # a previous workload on this address wrote it
        try:
            process = EnvoyProcess(
                self._work_dir,
                self._bootstrap,
                admin_port=self._admin_port,
                admin_host=self._admin_host,
                name="envoy",
                concurrency=self._concurrency,
                log_level=self._log_level,
            )
        except LauncherError as exc:
            raise ProxyError(f"cannot run Envoy: {exc}") from exc
        if self._binary is not None:
            # EnvoyProcess resolves the packaged binary; an explicit one replaces argv[0].
            process.argv[0] = str(self._binary)
        process.start_timeout = self._ready_timeout
        return process

    async def start(self) -> None:
        """Write the bootstrap, start Envoy and wait until it is ready (see class doc)."""
        self._process = self._create()
        log.info("proxy starting", admin=f"{self._admin_host}:{self._admin_port}",
                 bootstrap=str(self._process.bootstrap_path))  # fmt: skip
        try:
            await self._process.start()
        except ProcessStartError as exc:
            hint = ""
            if exc.reason.startswith("not ready"):
                hint = ("\n(Envoy is ready once it has its configuration from xds: is xds "
                        "running and reachable? See --xds)")  # fmt: skip
            raise ProxyError(f"Envoy did not start: {exc}{hint}") from exc
        except LauncherError as exc:
            raise ProxyError(f"Envoy did not start: {exc}") from exc
        log.info("proxy ready", pid=self._process.pid)
        self._on_state(True)

    async def supervise(self) -> None:
        """Restart Envoy whenever it exits, until :meth:`stop`. Never raises ProxyError:
        failed restarts are logged and retried after a backoff."""
        process = self._process
        if process is None:
            raise RuntimeError("supervise() before start()")
        while not self._stopping:
            status = await process.wait()
            if self._stopping:
                return
            self._on_state(False)
            log.error("proxy exited", status=status, log_tail=process.log_tail(10))
            while not self._stopping:
                delay = self._backoff.next_delay()
                log.info("proxy restarting", delay=round(delay, 3), restarts=self.restarts)
                await asyncio.sleep(delay)  # backoff between restarts of a crashing Envoy
                try:
                    await process.start()
                except LauncherError as exc:
                    log.error("proxy restart failed", error=str(exc).splitlines()[0])
                    continue
                self.restarts += 1
                self._backoff.reset()
                log.info("proxy restarted", pid=process.pid, restarts=self.restarts)
                self._on_state(True)
                break

    async def stop(self, grace: float) -> None:
        """Stop Envoy (SIGTERM, SIGKILL after ``grace``) and end supervision (idempotent)."""
        self._stopping = True
        if self._process is not None and self._process.running:
            with contextlib.suppress(ProcessLookupError):
                status = await self._process.stop(grace)
                log.info("proxy stopped", status=status)
