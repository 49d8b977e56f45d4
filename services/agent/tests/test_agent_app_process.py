"""The app as a child: it dies with its agent, its whole group gets signals, and a command
that cannot run is a clear error."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from mizzen.agent import AppProcess, AppStartError
from mizzen.testing import wait_for

# An agent stand-in: starts an app that prints its pid, then waits to be killed.
PARENT = """
import asyncio, signal, sys
from mizzen.agent import AppProcess

async def main():
    app = AppProcess([sys.executable, "-c", "import os, signal; print('APP', os.getpid(), "
                      "flush=True); signal.pause()"], {"PATH": "/usr/bin:/bin"})
    await app.start()
    await app.wait()

asyncio.run(main())
"""


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == "Z"


async def test_the_app_dies_with_its_agent_even_on_sigkill() -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PARENT, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert parent.stdout is not None
        line = b""
        while not line.startswith(b"APP "):
            line = await asyncio.wait_for(parent.stdout.readline(), 20)
            assert line, "the parent exited early"
        app_pid = int(line.split()[1])
        assert not gone(app_pid)
    finally:
        parent.kill()
        await parent.wait()
    await wait_for(lambda: gone(app_pid), timeout=5, message="the app to die with its agent")


async def test_stop_signals_the_whole_group_and_keeps_argv0(tmp_path: Path) -> None:
    pids, cmdline = tmp_path / "pids", tmp_path / "cmdline"
    script = (f"tr '\\0' ' ' < /proc/$$/cmdline > {cmdline}; sleep 300 & "
              f"echo $$ $! > {pids}.tmp; mv {pids}.tmp {pids}; wait")  # fmt: skip
    app = AppProcess(["sh", "-c", script], {"PATH": os.defpath})
    await app.start()

    def read_pids() -> list[str] | None:
        return pids.read_text().split() if pids.exists() else None

    shell, sleeper = (int(p) for p in await wait_for(read_pids, message="the app's pids"))
    assert shell == app.pid
    assert cmdline.read_text().split()[0] == "sh"  # argv[0] as given, not the resolved path
    assert await app.stop(signal.SIGTERM, grace=5) == -signal.SIGTERM
    await wait_for(lambda: gone(sleeper), timeout=5, message="the app's child to be signalled")


async def test_a_command_that_does_not_exist_is_127(tmp_path: Path) -> None:
    with pytest.raises(AppStartError, match="'no-such-command' not found") as caught:
        await AppProcess(["no-such-command"], {"PATH": str(tmp_path)}).start()
    assert caught.value.exit_status == 127


async def test_a_file_that_is_not_executable_is_126(tmp_path: Path) -> None:
    script = tmp_path / "app.sh"
    script.write_text("echo hi\n")
    with pytest.raises(AppStartError, match="is not executable") as caught:
        await AppProcess([str(script)], {"PATH": os.defpath}).start()
    assert caught.value.exit_status == 126


async def test_an_app_that_ignores_the_signal_is_killed_after_the_grace(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    app = AppProcess(["sh", "-c", f"trap '' TERM; touch {ready}; while :; do sleep 0.05; done"],
                     {"PATH": os.defpath})  # fmt: skip
    await app.start()
    await wait_for(ready.exists, message="the app to ignore SIGTERM")
    assert await app.stop(signal.SIGTERM, grace=0.3) == -signal.SIGKILL
