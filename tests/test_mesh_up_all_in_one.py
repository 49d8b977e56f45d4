"""``mizzen up --all-in-one``: every service in the supervisor's process on one in-memory
store, serving the same contracts on their own ports."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from mizzen.cli.mesh import PORT_ROLES
from mizzen.launcher import PortAllocator
from mizzen.testing import wait_for
from mizzen.testing.processes import alive

MIZZEN = str(Path(sys.executable).parent / "mizzen")
SERVICES = ["translator", "discovery", "xds"]
ENTRY = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin, namespace: default}
spec:
  hosts: [httpbin.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
"""


async def arun(*args: str, stdin: str | None = None, timeout: float = 60) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        MIZZEN, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(stdin.encode() if stdin else None), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_all_in_one_serves_every_service_from_one_process(tmp_path: Path) -> None:
    home = tmp_path / "home"
    allocator = PortAllocator()
    # etcd and NATS ports are not used in this mode: they are neither checked nor bound.
    ports = {r.flag: allocator.take() for r in PORT_ROLES if r.component in SERVICES}
    flags = [item for flag, port in ports.items() for item in (flag, str(port))]
    code, out = await arun("up", "--all-in-one", "--detach", "--home", str(home), *flags)
    try:
        assert code == 0, out
        state = json.loads((home / "state.json").read_text())
        supervisor = state["supervisor_pid"]
        assert state["mode"] == "all-in-one"
        assert list(state["components"]) == SERVICES
        assert {c["pid"] for c in state["components"].values()} == {supervisor}
        assert "MIZZEN_STORE_URL" not in state["env"]
        assert not (home / "etcd" / "data").exists()

        code, out = await arun("status", "--home", str(home), "--json")
        assert code == 0, out
        assert json.loads(out)["health"] == dict.fromkeys(SERVICES, "healthy")

        server = f"127.0.0.1:{ports['--translator-port']}"
        code, out = await arun("--server", server, "apply", "-f", "-", stdin=ENTRY)
        assert code == 0, out
        code, out = await arun("--server", server, "get", "serviceentries", "-n", "default")
        assert code == 0, out
        assert "httpbin" in out

        code, out = await arun("down", "--home", str(home))
        assert code == 0, out
        assert "stopped translator, discovery, xds" in out
        assert not alive(supervisor)
    finally:
        state_file = home / "state.json"
        if state_file.exists():
            pid = json.loads(state_file.read_text())["supervisor_pid"]
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
                await wait_for(lambda: not alive(pid), timeout=10, message="supervisor gone")
