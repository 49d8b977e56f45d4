"""Benchmark ``mizzen demo``: how long until Bookinfo answers, and what every process costs.

Run: ``.venv/bin/python bench/startup.py [--runs N] [--keep]``

Each run starts from nothing, in a fresh temporary home, on ports shifted below the
ephemeral range (``--port-offset``):

1. ``mizzen demo --detach`` starts (the clock starts as the command is spawned): it brings up
   etcd, nats-server, translator, discovery and xds (``mizzen up``), applies Bookinfo's
   subsets and Gateway, and runs the six Bookinfo workloads (each an agent, its Envoy and its
   app) and the ingress gateway (a gateway runner and its Envoy);
2. meanwhile the page ``http://127.0.0.1:<port>/productpage`` is polled through the gateway
   (one request at a time, a new connection each); recorded: the mesh becoming ready (its
   state file), the first 200, the first whole page (details, reviews and ratings all
   answered), and the command returning;
3. the resident memory (``VmRSS``) of every process of the mesh and of the demo is read from
   ``/proc``: each control-plane component, both supervisors, and for each workload its
   agent, its Envoy and its app;
4. ``mizzen demo --down`` stops it all (timed too), unless ``--keep``.

Everything runs on this machine, which the processes share with whatever else runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mizzen.cli.demo_cmd import find_free_port_offset
from mizzen.samples.bookinfo.probe import fetch_page

MIZZEN = str(Path(sys.executable).parent / "mizzen")
POLL_SECONDS = 0.02


@dataclass
class Timings:
    """Seconds from spawning ``mizzen demo --detach``; ``None`` until seen."""

    mesh_ready: float | None = None
    first_200: float | None = None
    whole_page: float | None = None
    returned: float | None = None
    stopped: float | None = None


@dataclass
class Row:
    """One process: what it is, its pid, its resident memory in KiB."""

    group: str
    name: str
    pid: int
    rss_kib: int


@dataclass
class Run:
    """One run's figures."""

    timings: Timings = field(default_factory=Timings)
    rows: list[Row] = field(default_factory=list)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document


def rss_kib(pid: int) -> int:
    """``VmRSS`` of ``pid`` in KiB (0 when it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (from every live process's ``stat``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                if int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                    found.append(int(entry.name))
    return sorted(found)


def measure(home: Path) -> list[Row]:
    """Every process of the mesh and of the demo in ``home``, with its memory."""
    rows: list[Row] = []
    mesh = read_json(home / "state.json") or {}
    demo = read_json(home / "demo" / "state.json") or {}
    for name, record in mesh.get("components", {}).items():
        rows.append(Row("control plane", name, record["pid"], rss_kib(record["pid"])))
    for label, state in (("mesh supervisor", mesh), ("demo supervisor", demo)):
        if state:
            pid = state["supervisor_pid"]
            rows.append(Row("supervisors", label, pid, rss_kib(pid)))
    for name, record in demo.get("components", {}).items():
        runner = record["pid"]
        role = "gateway runner" if record["kind"] == "gateway" else "agent"
        rows.append(Row(role, name, runner, rss_kib(runner)))
        for child in children(runner):
            line = cmdline(child)
            what = "envoy" if "envoy" in line.split(" ", 1)[0] else "app"
            rows.append(Row(what, name, child, rss_kib(child)))
    return rows


async def one_run(index: int, *, keep: bool) -> Run:
    home = Path(tempfile.mkdtemp(prefix="mizzen-startup-")) / "home"
    offset = find_free_port_offset()
    port = 8080 + offset
    result = Run()
    timings = result.timings
    print(f"run {index}: home {home}, port offset {offset}", flush=True)
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        MIZZEN, "demo", "--detach", "--home", str(home), "--port-offset", str(offset),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output = asyncio.create_task(process.communicate())
    try:
        while timings.whole_page is None or timings.returned is None:
            now = time.monotonic() - started
            if timings.mesh_ready is None:
                mesh = read_json(home / "state.json")
                if mesh and mesh.get("phase") == "ready":
                    timings.mesh_ready = now
            if timings.whole_page is None and timings.mesh_ready is not None:
                with contextlib.suppress(OSError, TimeoutError, ValueError):
                    page = await fetch_page("127.0.0.1", port, timeout=5)
                    if page.status == 200 and timings.first_200 is None:
                        timings.first_200 = time.monotonic() - started
                    if page.whole:
                        timings.whole_page = time.monotonic() - started
            if timings.returned is None and output.done():
                timings.returned = time.monotonic() - started
                if process.returncode != 0:
                    out, _ = output.result()
                    raise RuntimeError(f"mizzen demo failed:\n{out.decode()}")
            if now > 300:
                raise RuntimeError("Bookinfo did not answer within 300 s")
            await asyncio.sleep(POLL_SECONDS)  # the polling period of the measurement
        result.rows = measure(home)
    finally:
        if not keep:
            began = time.monotonic()
            down = await asyncio.create_subprocess_exec(
                MIZZEN, "demo", "--down", "--home", str(home),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            await down.wait()
            timings.stopped = time.monotonic() - began
            shutil.rmtree(home.parent, ignore_errors=True)
        else:
            print(f"kept running; stop it with: mizzen demo --down --home {home}")
    return result


def seconds(value: float | None) -> str:
    return f"{value:6.2f}" if value is not None else "     -"


def report(runs: list[Run]) -> None:
    print()
    print("run  mesh ready  first 200  whole page  demo returned  demo --down")
    for index, run in enumerate(runs, 1):
        t = run.timings
        print(f"{index:>3}  {seconds(t.mesh_ready):>10}  {seconds(t.first_200):>9}  "
              f"{seconds(t.whole_page):>10}  {seconds(t.returned):>13}  "
              f"{seconds(t.stopped):>11}")  # fmt: skip
    rows = runs[-1].rows
    print()
    print(f"resident memory (VmRSS), run {len(runs)}:")
    print(f"{'process':<16} {'of':<16} {'pid':>7} {'RSS MiB':>8}")
    for row in rows:
        print(f"{row.group:<16} {row.name:<16} {row.pid:>7} {row.rss_kib / 1024:>8.1f}")
    print()
    totals: dict[str, list[int]] = {}
    for row in rows:
        totals.setdefault(row.group, []).append(row.rss_kib)
    print(f"{'by kind':<16} {'count':>5} {'each MiB':>9} {'total MiB':>10}")
    for group, values in totals.items():
        print(f"{group:<16} {len(values):>5} {sum(values) / len(values) / 1024:>9.1f} "
              f"{sum(values) / 1024:>10.1f}")  # fmt: skip
    everything = sum(row.rss_kib for row in rows)
    print(f"{'all':<16} {len(rows):>5} {'':>9} {everything / 1024:>10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1, help="how many cold starts [1]")
    parser.add_argument("--keep", action="store_true", help="leave the last run running")
    args = parser.parse_args()
    runs = []
    for index in range(1, args.runs + 1):
        keep = args.keep and index == args.runs
        runs.append(asyncio.run(one_run(index, keep=keep)))
    report(runs)


if __name__ == "__main__":
    main()
