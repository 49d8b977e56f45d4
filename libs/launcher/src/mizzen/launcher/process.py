"""A supervised child process with a readiness check, bound to die with its parent."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import structlog

from mizzen.launcher.errors import ProcessStartError
from mizzen.launcher.parent import bound_to_parent

log = structlog.get_logger(__name__)


class ChildProcess:
    """One child process: start it, wait until :meth:`is_ready`, stop or kill it, restart it.

    Subclasses give the argv and the readiness check. Output goes to ``log_path`` (appended
    across restarts) so that a failure can show the child's last words. An instance is used
    from one event loop; it is not safe to call ``start``/``stop`` concurrently.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        start_timeout: float = 15.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.start_timeout = start_timeout
        self._proc: asyncio.subprocess.Process | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The child's pid while it runs, else ``None``."""
        return self._proc.pid if self.running and self._proc else None

    @property
    def running(self) -> bool:
        """Whether the child was started and has not exited."""
        return self._proc is not None and self._proc.returncode is None

    @property
    def returncode(self) -> int | None:
        """The exit status of the last run, ``None`` while running or before the first run."""
        return self._proc.returncode if self._proc else None

    async def is_ready(self) -> bool:
        """Return whether the running child serves. Subclasses probe their own endpoint."""
        return True

    async def start(self) -> None:
        """Start the child and return once it is ready.

        Raises :class:`ProcessStartError` (with the child's last output) when it exits early
        or is not ready within ``start_timeout``; the child is killed in that case.
        """
        if self.running:
            raise ProcessStartError(self.name, "already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("ab")
        env = None if self.env is None else {**os.environ, **self.env}
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *bound_to_parent(self.argv[0], self.argv),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
            )
        except OSError as exc:
            self._close_log()
            raise ProcessStartError(self.name, f"cannot execute {self.argv[0]}: {exc}") from exc
        log.debug("child started", child=self.name, pid=self._proc.pid)
        await self._wait_ready()

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        delay = 0.005
        while True:
            if not self.running:
                code = self.returncode
                self._close_log()
                raise ProcessStartError(
                    self.name,
                    f"exited with status {code} before it was ready",
                    log_tail=self.log_tail(),
                )
            with contextlib.suppress(OSError, TimeoutError, ValueError):
                if await self.is_ready():
                    return
            if time.monotonic() > deadline:
                await self.kill()
                raise ProcessStartError(
                    self.name,
                    f"not ready within {self.start_timeout:.1f}s",
                    log_tail=self.log_tail(),
                )
            await asyncio.sleep(delay)  # polling interval of the readiness check
            delay = min(delay * 2, 0.1)

    async def stop(self, grace: float = 10.0) -> int | None:
        """Send SIGTERM, wait up to ``grace`` seconds, then SIGKILL. Returns the exit status."""
        return await self._terminate(signal.SIGTERM, grace)

    async def kill(self) -> int | None:
        """SIGKILL the child (as ``kill -9`` would) and reap it. Returns the exit status."""
        return await self._terminate(signal.SIGKILL, 5.0)

    async def restart(self) -> None:
        """Stop the child if it runs, then start it again with the same arguments."""
        await self.stop()
        await self.start()

    async def wait(self) -> int:
        """Wait for the child to exit on its own and return its status."""
        if self._proc is None:
            raise ProcessStartError(self.name, "never started")
        code = await self._proc.wait()
        self._close_log()
        return code

    async def _terminate(self, sig: signal.Signals, grace: float) -> int | None:
        proc = self._proc
        if proc is None:
            return None
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                # The whole session: a shim or a component's own children go too.
                os.killpg(proc.pid, sig)
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        self._close_log()
        log.debug("child stopped", child=self.name, status=proc.returncode)
        return proc.returncode

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines the child wrote (across restarts)."""
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
