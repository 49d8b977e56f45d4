"""``mizzen demo`` on its own: in the foreground it starts the mesh too and Ctrl-C stops
everything; bad starts are refused before anything runs, with a message and status 1."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mizzen.cli.demo_cmd import find_free_port_offset
from mizzen.samples.bookinfo import WORKLOADS
from mizzen.samples.bookinfo.probe import fetch_page
from mizzen.testing.processes import alive, descendants

MIZZEN = str(Path(sys.executable).parent / "mizzen")


def read_json(path: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads(path.read_text())
    return document


async def mizzen(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        MIZZEN, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
def listening() -> Iterator[socket.socket]:
    """A socket listening on a free port of 127.0.0.1, as something else would."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


async def test_foreground_demo_starts_the_mesh_and_ctrl_c_stops_everything(
    tmp_path: Path,
) -> None:
    home, offset = tmp_path / "home", find_free_port_offset()
    process = await asyncio.create_subprocess_exec(
        MIZZEN, "demo", "--home", str(home), "--port-offset", str(offset),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output = b""
    try:
        assert process.stdout is not None
        while b"Bookinfo is ready" not in output:
            line = await asyncio.wait_for(process.stdout.readline(), 180)
            assert line, output.decode()
            output += line
        page = await fetch_page("127.0.0.1", 8080 + offset)
        assert page.whole, page
        mesh = read_json(home / "state.json")
        bookinfo = read_json(home / "demo" / "state.json")
        assert bookinfo["supervisor_pid"] == process.pid
        roots = {int(str(mesh["supervisor_pid"])), process.pid}
        for state in (mesh, bookinfo):
            components = state["components"]
            assert isinstance(components, dict)
            roots |= {int(c["pid"]) for c in components.values()}
        pids = descendants(roots)
        assert len(pids) >= 2 + 5 + 7 * 2 + len(WORKLOADS)
        process.send_signal(signal.SIGINT)
        rest, _ = await asyncio.wait_for(process.communicate(), 90)
        output += rest
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        with contextlib.suppress(OSError, ValueError, KeyError):
            os.kill(int(str(read_json(home / "state.json")["supervisor_pid"])), signal.SIGKILL)
    text = output.decode()
    assert process.returncode == 0, text
    assert "mizzen: starting the local mesh" in text
    assert ("Press Ctrl-C (or run `mizzen demo --down`) to stop. The mesh it started stops "
            "too.") in text  # fmt: skip
    assert "mizzen: stopping the mesh" in text
    assert text.rstrip().endswith("mizzen: demo stopped")
    # Ctrl-C waited for the mesh and every child: nothing is left.
    assert not [p for p in pids if alive(p)]
    assert read_json(home / "state.json")["phase"] == "stopped"
    code, out, _ = await mizzen("demo", "--down", "--home", str(home))
    assert code == 0
    assert f"no demo is running in {home}" in out


async def test_a_gateway_port_in_use_is_refused_before_anything_starts(
    tmp_path: Path, listening: socket.socket
) -> None:
    port = listening.getsockname()[1]
    home = tmp_path / "home"
    code, out, err = await mizzen("demo", "--home", str(home), "--gateway-port", str(port),
                                  "--port-offset", str(find_free_port_offset()))  # fmt: skip
    assert code == 1, out + err
    expected = (
        f"Error: port {port} (the ingress gateway) is already in use; free it, or "
        "choose another port with --gateway-port or shift every port with --port-offset"
    )
    assert expected in err
    assert not (home / "state.json").exists()  # no mesh was started
    # The demo's lock was released: the next try is refused for the port again, not the lock.
    code, _, err = await mizzen("demo", "--home", str(home), "--gateway-port", str(port))
    assert code == 1
    assert "already in use" in err


async def test_a_mesh_port_in_use_is_refused_by_name(tmp_path: Path) -> None:
    offset = find_free_port_offset()
    port = 2379 + offset  # etcd's client port at that offset
    home = tmp_path / "home"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        code, out, err = await mizzen("demo", "--home", str(home), "--port-offset", str(offset))
    assert code == 1, out + err
    expected = (
        f"port {port} (etcd client) is already in use; free it, shift every port with "
        "--port-offset, or start the mesh yourself (`mizzen up --etcd-port ...`)"
    )
    assert expected in err
    assert not (home / "state.json").exists()


async def test_an_unwritable_home_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, out, err = await mizzen("demo", "--home", str(blocker / "home"))
    assert code == 1, out + err
    assert f"cannot use {blocker / 'home'} as the mesh's home" in err
    assert "set MIZZEN_HOME or --home to a writable directory" in err


async def test_down_and_status_without_a_demo(tmp_path: Path) -> None:
    code, out, _ = await mizzen("demo", "--down", "--home", str(tmp_path))
    assert code == 0
    assert f"no demo is running in {tmp_path}" in out
    code, out, _ = await mizzen("demo", "--status", "--home", str(tmp_path))
    assert code == 1
    assert f"no demo has run in {tmp_path}" in out
