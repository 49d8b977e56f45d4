"""The real ``mizzen up`` / ``status`` / ``down``: etcd, nats-server, translator, discovery
and xds as processes in a temporary home on free ports; nothing may be left behind."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mizzen.agent import load_agent_settings
from mizzen.cli.mesh import PORT_ROLES, mesh_server_address
from mizzen.cli.mesh.control import environment_with_mesh_defaults
from mizzen.launcher import PortAllocator
from mizzen.testing import wait_for
from mizzen.testing.processes import alive

MIZZEN = str(Path(sys.executable).parent / "mizzen")
COMPONENTS = ["etcd", "nats", "translator", "discovery", "xds"]


@dataclass
class Mesh:
    """A home and the port flags of one mesh."""

    home: Path
    ports: dict[str, int]

    def args(self, *extra: str) -> list[str]:
        flags = [item for flag, port in self.ports.items() for item in (flag, str(port))]
        return ["up", "--home", str(self.home), *flags, *extra]

    def state(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((self.home / "state.json").read_text())
        return document

    def pids(self) -> set[int]:
        state = self.state()
        found = {state["supervisor_pid"]}
        return found | {c["pid"] for c in state["components"].values() if c["pid"]}


def new_mesh(home: Path) -> Mesh:
    allocator = PortAllocator()
    return Mesh(home, {role.flag: allocator.take() for role in PORT_ROLES})


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MIZZEN, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)  # fmt: skip


async def arun(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        MIZZEN, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def force_cleanup(mesh: Mesh) -> None:
    """Whatever a failed test left: kill the supervisor; its children die with it."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        os.kill(mesh.state()["supervisor_pid"], signal.SIGKILL)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """One detached mesh shared by the tests that only look at it or kill a part of it."""
    running = new_mesh(tmp_path_factory.mktemp("mesh") / "home")
    try:
        started = run(*running.args("--detach"))
        assert started.returncode == 0, started.stdout + started.stderr
        yield running
        stopped = run("down", "--home", str(running.home))
        assert stopped.returncode == 0, stopped.stderr
    finally:
        force_cleanup(running)


def test_detached_up_prints_progress_and_environment(mesh: Mesh) -> None:
    state = mesh.state()
    assert state["phase"] == "ready"
    assert list(state["components"]) == COMPONENTS
    assert state["env"]["MIZZEN_SERVER"] == f"127.0.0.1:{mesh.ports['--translator-port']}"
    assert state["env"]["MIZZEN_STORE_URL"] == f"etcd://127.0.0.1:{mesh.ports['--etcd-port']}"
    for name in COMPONENTS:
        assert (mesh.home / "logs" / f"{name}.log").exists()
    assert (mesh.home / "etcd" / "data").is_dir()


async def test_status_shows_every_component_healthy(mesh: Mesh) -> None:
    code, out, err = await arun("status", "--home", str(mesh.home), "--json")
    assert code == 0, out + err
    report = json.loads(out)
    assert report["running"] is True
    assert report["health"] == dict.fromkeys(COMPONENTS, "healthy")
    xds = report["components"]["xds"]
    assert xds["address"] == f"127.0.0.1:{mesh.ports['--xds-port']}"
    assert xds["ports"] == {"grpc": mesh.ports["--xds-port"],
                            "metrics": mesh.ports["--xds-metrics-port"]}  # fmt: skip
    code, out, _ = await arun("status", "--home", str(mesh.home))
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    for name in COMPONENTS:
        assert rows[name][1] == "healthy"
        assert rows[name][3] == str(report["components"][name]["pid"])


async def test_the_cli_finds_the_running_config_api(mesh: Mesh) -> None:
    server = mesh_server_address(mesh.home)
    assert server == f"127.0.0.1:{mesh.ports['--translator-port']}"
    code, out, err = await arun("--server", server, "get", "virtualservices", "-A")
    assert code == 0, err
    assert "No resources found" in out + err


def test_workloads_find_the_running_mesh_without_exports(mesh: Mesh) -> None:
    environ = {"MIZZEN_HOME": str(mesh.home)}
    settings = load_agent_settings(environment_with_mesh_defaults(environ))
    xds = f"127.0.0.1:{mesh.ports['--xds-port']}"
    discovery = f"127.0.0.1:{mesh.ports['--discovery-port']}"
    assert xds in str(settings.xds_servers)
    assert discovery in str(settings.discovery_servers)
    explicit = {**environ, "MIZZEN_AGENT_XDS_SERVERS": "127.0.0.9:1"}
    assert "127.0.0.9:1" in str(load_agent_settings(environment_with_mesh_defaults(explicit))
                                .xds_servers)  # fmt: skip


async def test_a_second_up_on_a_running_home_is_refused(mesh: Mesh) -> None:
    before = mesh.state()["supervisor_pid"]
    code, out, err = await arun(*mesh.args("--detach"))
    assert code == 1, out
    assert f"a mesh is already running in {mesh.home} (supervisor pid {before})" in err
    assert mesh.state()["supervisor_pid"] == before


@pytest.mark.parametrize("victim", ["xds", "etcd"])
async def test_a_killed_component_is_restarted(mesh: Mesh, victim: str) -> None:
    record = mesh.state()["components"][victim]
    os.kill(record["pid"], signal.SIGKILL)

    def restarted() -> bool:
        now = mesh.state()["components"][victim]
        return bool(now["status"] == "healthy" and now["restarts"] == record["restarts"] + 1)

    await wait_for(restarted, timeout=30, message=f"{victim} restarted")
    now = mesh.state()["components"][victim]
    assert now["pid"] != record["pid"]
    assert now["detail"] == "restarted after exit status -9"

    async def all_healthy() -> bool:
        code, _, _ = await arun("status", "--home", str(mesh.home))
        return code == 0

    await wait_for(all_healthy, timeout=30, message="every component healthy again")
    log = (mesh.home / "logs" / "supervisor.log").read_text()
    assert '"event": "component restarted"' in log


async def test_down_leaves_nothing_and_a_dead_supervisors_home_is_taken_over(
    tmp_path: Path,
) -> None:
    mesh = new_mesh(tmp_path / "home")
    try:
        code, out, err = await arun(*mesh.args("--detach"))
        assert code == 0, out + err
        first = mesh.pids()
        assert len(first) == 1 + len(COMPONENTS)
        # A supervisor killed outright takes its components with it and leaves its lock free.
        os.kill(mesh.state()["supervisor_pid"], signal.SIGKILL)
        await wait_for(lambda: not any(alive(p) for p in first), timeout=20,
                       message="every process of the killed mesh gone")  # fmt: skip
        code, out, _ = await arun("status", "--home", str(mesh.home))
        assert code == 1
        assert "no mesh is running" in out

        code, out, err = await arun(*mesh.args("--detach"))
        assert code == 0, out + err
        second = mesh.pids()
        assert second.isdisjoint(first)
        assert all(alive(p) for p in second)

        code, out, err = await arun("down", "--home", str(mesh.home))
        assert code == 0, err
        assert "stopped etcd, nats, translator, discovery, xds" in out
        assert not [p for p in second if alive(p)]
        assert mesh.state()["phase"] == "stopped"
    finally:
        force_cleanup(mesh)


async def test_foreground_up_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    mesh = new_mesh(tmp_path / "home")
    process = await asyncio.create_subprocess_exec(
        MIZZEN, *mesh.args(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        await wait_for(lambda: mesh.state()["phase"] == "ready", timeout=60,
                       message="the foreground mesh ready")  # fmt: skip
        pids = mesh.pids()
        assert mesh.state()["supervisor_pid"] == process.pid
        process.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = out.decode()
    assert process.returncode == 0, text
    assert "xds: healthy" in text
    assert "export MIZZEN_SERVER=" in text
    # Stopped in reverse start order.
    order = [text.index(f"{name}: stopped") for name in reversed(COMPONENTS)]
    assert order == sorted(order)
    assert not [p for p in pids if alive(p)]
