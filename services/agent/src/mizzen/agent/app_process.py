"""The workload's app: a child in its own process group, bound to die with the agent.

The app shares the agent's stdin, stdout and stderr (it is the user's program), but not its
process group: a Ctrl-C at the terminal reaches only the agent, which deregisters first and
then forwards the signal, so the app's shutdown is not raced by traffic still routed to it.
Signals go to the app's whole group, so ``sh -c '...'`` wrappers and the app's own children
get them too, and whatever is left of the group when the app exits is killed.

The app is bound to the agent with :func:`mizzen.launcher.bound_to_parent` (an exec shim,
not ``preexec_fn``: the agent holds live gRPC channels; see that module for why).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Mapping, Sequence

import structlog

from mizzen.agent.errors import AppStartError
from mizzen.launcher import bound_to_parent

__all__ = ["AppProcess"]

log = structlog.get_logger(__name__)


def _resolve(program: str, path: str) -> str:
    """The path of ``program`` as ``execvp`` would find it; AppStartError if none."""
    found = shutil.which(program, path=path)
    if found is not None:
        return found
    if "/" in program and os.path.exists(program):
        raise AppStartError(f"cannot run the app: {program!r} is not executable", exit_status=126)
    raise AppStartError(f"cannot run the app: {program!r} not found", exit_status=127)


class AppProcess:
    """One run of the app's command with ``env``. Use from one event loop (the main thread:
    the parent-death signal is tied to the thread that forks)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        self.argv = list(argv)
        self.env = dict(env)
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        """The app's pid (also its process group id) once started."""
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        """Whether the app was started and has not exited."""
        return self._proc is not None and self._proc.returncode is None

    @property
    def returncode(self) -> int | None:
        """The app's exit status (negative: killed by that signal), ``None`` while it runs."""
        return self._proc.returncode if self._proc else None

    async def start(self) -> None:
        """Start the app. Raises :class:`AppStartError` if its command cannot be executed
        (checked here, as the shim's own exec failure would look like an app exiting)."""
        program = _resolve(self.argv[0], self.env.get("PATH", os.defpath))
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *bound_to_parent(program, self.argv),
                env=self.env,
                start_new_session=True,
            )
        except OSError as exc:
            raise AppStartError(f"cannot run the app: {exc}", exit_status=126) from exc
        log.info("app started", pid=self._proc.pid, command=self.argv)

    async def wait(self) -> int:
        """Wait for the app to exit; its return code (negative: killed by that signal)."""
        if self._proc is None:
            raise RuntimeError("wait() before start()")
        return await self._proc.wait()

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the app's process group (nothing if it is gone)."""
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, sig)

    async def stop(self, sig: int, grace: float) -> int | None:
        """Send ``sig``, wait up to ``grace`` seconds for the app to exit, then SIGKILL its
        group. Returns the app's return code (``None`` if it never started)."""
        if self._proc is None:
            return None
        if self._proc.returncode is None:
            self.send_signal(sig)
            try:
                await asyncio.wait_for(self._proc.wait(), grace)
            except TimeoutError:
                log.warning("app did not exit in time", grace=grace, pid=self._proc.pid)
                self.kill_group()
                await self._proc.wait()
        self.kill_group()
        return self._proc.returncode

    def kill_group(self) -> None:
        """SIGKILL whatever is left of the app's process group (its children)."""
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
