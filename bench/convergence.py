"""Benchmark the serving path: how fast one VirtualService change reaches every proxy.

Run: ``.venv/bin/python bench/convergence.py [--proxies N] [--services M] [--real-envoys K]
[--sotw]`` (``--proxies`` and ``--services`` take comma-separated lists; the default matrix
is N in {100, 1000} x M in {100, 1000}, with K = 2).

Each cell of the matrix starts from nothing:

1. etcd (by default as in production: fsync on, etcd's default raft timings; ``--fast-etcd``
   uses the test settings), then the translator and xds as real service processes;
2. M services with a few endpoints each, written into the registry with the registry codec
   (as discovery would), and a VirtualService per service applied through the ConfigService
   (see ``benchstack.py`` for their shape);
3. N simulated ADS proxies in a separate load generator process (``loadgen.py`` and
   ``adsload.py``: a pilot-load-like client that subscribes and ACKs like an Envoy sidecar;
   replicas of ``--workloads`` workloads in capture mode, so the workloads are the classes),
   plus K real Envoys in Mizzen's local mode (one class each). Waits until every proxy holds
   its complete initial config;
4. waits until xds and the translator are at rest (no CPU used for ``--rest`` seconds: the
   state a mesh meets most changes in; ``--rest 0`` changes right after the initial sync);
5. applies ONE VirtualService change (a response header carrying a unique marker on the
   route of ``svc-0000``, which every proxy sees) and measures, per proxy, the time from the
   apply returning to that proxy's last ACK of the resulting push: for simulated proxies from
   their ACK timestamps (the last ACK once no response has arrived for ``--quiet`` seconds
   after every proxy ACKed the marker); for real Envoys from their own reload timestamps
   (admin ``/stats``, ms precision) once their route configuration holds the marker.

Printed per cell: min, p50, p99 and max of those latencies; the responses and bytes each
simulated proxy got for the change; xds CPU seconds (``/proc/<pid>/stat``) for the change,
while the proxies connected, and in total since xds started; xds resident memory per
connected proxy (VmRSS with every proxy connected, minus VmRSS before the first connected,
divided by N + K; read at rest before the change, the steady state of a connected mesh;
with ``--rest 0`` the lower of the readings once all are synced and after the change; the
peak, VmHWM, is printed too);
the translator's and the load generator's CPU for the change, and the CPU anything else on
the machine used meanwhile (on a shared machine, figures with ``other s`` well above 0 are
not to be trusted; ``--wait-quiet`` waits for an idle machine before each cell). Then
whether the issue's goals are met at N = M = 1,000 (p99 under 1 s, under 100 KB of xds
memory per proxy). Everything runs on this machine, on loopback: the load generator (one
connection per proxy by default, as Envoys have) shares the CPUs with what it measures.

``--profile DIR`` samples xds, the translator and the load generator with py-spy during the
change (see ``profiling.py``). etcd's ``--max-request-bytes`` is raised by default: see
:data:`ETCD_MAX_REQUEST_BYTES`.

Bounded: every phase has a deadline (``--initial-timeout`` and ``--change-timeout`` for the
two waits on proxies); every process started is stopped when the cell ends, fails, or the
run is interrupted (Ctrl-C, SIGTERM), and is bound to die with this one (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import structlog
from cell import (
    LAST_PROGRESS,
    CellOptions,
    CellResult,
    PhaseTimeout,
    run_cell,
    wait_for_quiet_machine,
)
from profiling import find_py_spy

P99_GOAL_SECONDS = 1.0
MEMORY_GOAL_KB = 100.0
ETCD_MAX_REQUEST_BYTES = 8 << 20
"""Headroom, on by default: the translator's SnapshotWriter keeps each etcd transaction under
100 puts and about 1 MiB, but one resource larger than etcd's default 1.5 MiB request limit
(a route configuration of a mesh far larger than this benchmark's) would still be refused.
``--etcd-max-request-bytes 0`` runs with etcd's default."""


# -- output ------------------------------------------------------------------------------

COLUMNS = (
    ("proxies", 7), ("services", 8), ("classes", 7), ("initial s", 9), ("min ms", 7),
    ("p50 ms", 7), ("p99 ms", 7), ("max ms", 7), ("envoys ms", 11), ("pushes", 6),
    ("push KB", 7), ("xds cpu s", 9), ("connect s", 9), ("total s", 7), ("xds KB/proxy", 12),
    ("transl s", 8), ("loadgen s", 9), ("other s", 7), ("load", 4), ("NACKs", 5),
)  # fmt: skip


def table_header() -> str:
    """The header line of the table."""
    return "  ".join(name.rjust(width) for name, width in COLUMNS)


def table_row(result: CellResult) -> str:
    """One cell's line (its error in place of figures if it failed)."""
    head = [str(result.proxies), str(result.services)]
    if result.error:
        cells = [*head, f"FAILED: {result.error}"]
        return "  ".join(c.rjust(w) for c, (_, w) in zip(cells, COLUMNS, strict=False))
    envoys = ",".join(f"{1000 * s:.0f}" for s in result.envoy_latencies) or "-"
    pushes = (f"{result.pushes[0]}" if result.pushes[0] == result.pushes[1]
              else f"{result.pushes[0]}-{result.pushes[1]}")  # fmt: skip
    cells = [
        *head, str(result.classes), f"{result.initial_seconds:.1f}",
        f"{1000 * min(result.latencies):.0f}", f"{1000 * result.quantile(0.5):.0f}",
        f"{1000 * result.quantile(0.99):.0f}",
        f"{1000 * max(result.latencies):.0f}", envoys, pushes, f"{result.push_kb:.0f}",
        f"{result.xds_cpu_change:.2f}",
        f"{result.xds_cpu_connect:.1f}", f"{result.xds_cpu_total:.1f}",
        f"{result.kb_per_proxy:.1f}", f"{result.translator_cpu_change:.2f}",
        f"{result.loadgen_cpu_change:.2f}", f"{result.other_cpu_change:.2f}",
        f"{result.load_average:.1f}", str(result.envoy_rejected),
    ]  # fmt: skip
    return "  ".join(c.rjust(w) for c, (_, w) in zip(cells, COLUMNS, strict=True))


def goals(results: Sequence[CellResult]) -> list[str]:
    """Whether the issue's goals are met, judged on the N = M = 1,000 cell."""
    cell = next((r for r in results if r.proxies == 1000 and r.services == 1000), None)
    if cell is None:
        return ["goals: not evaluated (they are set for N = M = 1000, which did not run)"]
    if cell.error:
        return [f"goals: MISSED (the N = M = 1000 cell failed: {cell.error})"]
    p99 = cell.quantile(0.99)
    return [
        f"goal p99 < {P99_GOAL_SECONDS * 1000:.0f} ms at N = M = 1000: "
        f"{'MET' if p99 < P99_GOAL_SECONDS else 'MISSED'} (p99 {1000 * p99:.0f} ms)",
        f"goal xds memory < {MEMORY_GOAL_KB:.0f} KB per connected proxy at N = M = 1000: "
        f"{'MET' if cell.kb_per_proxy < MEMORY_GOAL_KB else 'MISSED'} "
        f"({cell.kb_per_proxy:.1f} KB: xds RSS {cell.xds_rss_before_kb} KB before any proxy, "
        f"{cell.xds_rss_connected_kb} KB synced, {cell.xds_rss_rest_kb} KB at rest, "
        f"{cell.xds_rss_after_kb} KB after the change, "
        f"peak {cell.xds_hwm_kb} KB)",
    ]


def legend(options: argparse.Namespace) -> str:
    """What the run was, in a few lines above the table."""
    etcd = "fast test settings (no fsync)" if options.fast_etcd else (
        "fsync on, default raft timings")  # fmt: skip
    if options.etcd_max_request_bytes:
        etcd += f", --max-request-bytes {options.etcd_max_request_bytes}"
    return (
        f"convergence of one VirtualService change, {'delta' if options.delta else 'sotw'} ADS; "
        f"etcd: {etcd}\n"
        f"simulated proxies: replicas of {options.workloads} workloads in "
        f"{options.namespaces} namespaces (capture mode: one class per workload), "
        f"{options.streams_per_channel} streams per connection; {options.real_envoys} real "
        f"Envoys (local mode: one class each)\n"
        f"services: 1 HTTP port each (80/8080/9080), {options.endpoints} endpoints, "
        "one VirtualService each\n"
        "columns: initial s = connect to every proxy synced; min/p50/p99/max over all proxies "
        "(apply returned -> last ACK);\n  pushes = responses per simulated proxy for the "
        "change; xds cpu s = for the change; connect s = while the proxies connected;\n"
        "  total s = since xds started; xds KB/proxy = VmRSS growth / connected proxies "
        "(at rest before the change; with --rest 0 the lower of: all synced, after it); "
        "transl s / loadgen s = CPU for the change;\n  other s = CPU used by "
        "anything else on the machine meanwhile (figures are unreliable when it is not ~0); "
        "load = 1-minute load average at the cell's start;\n  NACKs = updates the real "
        "Envoys rejected"
    )


# -- command line ------------------------------------------------------------------------


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The options (see ``--help``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--proxies",
        type=_counts,
        default=[100, 1000],
        help="simulated proxies N, comma-separated (default 100,1000)",
    )
    parser.add_argument(
        "--services",
        type=_counts,
        default=[100, 1000],
        help="services M, comma-separated (default 100,1000)",
    )
    parser.add_argument("--real-envoys", type=int, default=2, help="real Envoys K (default 2)")
    parser.add_argument("--sotw", dest="delta", action="store_false",
                        help="state-of-the-world ADS instead of delta (delta is what Mizzen's "
                             "agent uses by default, as Istio does since 1.22)")  # fmt: skip
    parser.add_argument("--workloads", type=int, default=10)
    parser.add_argument("--namespaces", type=int, default=5)
    parser.add_argument("--endpoints", type=int, default=3, help="endpoints per service")
    parser.add_argument("--streams-per-channel", type=int, default=1,
                        help="ADS streams per connection of the load generator (default 1: "
                             "a connection per proxy, as Envoys have; more streams per "
                             "connection hide xds's per-connection memory)")  # fmt: skip
    parser.add_argument(
        "--fast-etcd",
        action="store_true",
        help="etcd without fsync and with 10 ms heartbeats (test settings)",
    )
    parser.add_argument("--etcd-max-request-bytes", type=int, default=ETCD_MAX_REQUEST_BYTES,
                        help="etcd's --max-request-bytes (0: etcd's default, 1.5 MiB); raised "
                             "by default, see ETCD_MAX_REQUEST_BYTES")  # fmt: skip
    parser.add_argument(
        "--quiet",
        type=float,
        default=0.5,
        help="seconds without any response that end a push (default 0.5)",
    )
    parser.add_argument(
        "--initial-timeout",
        type=float,
        default=0.0,
        help="deadline of the initial sync (default 60 s + N*M/5000 s)",
    )
    parser.add_argument("--change-timeout", type=float, default=60.0)
    parser.add_argument("--rest", type=float, default=1.5, metavar="SECONDS",
                        help="before the change, wait until xds and the translator used no "
                             "CPU for this long (default 1.5; 0: change right after the "
                             "initial sync)")  # fmt: skip
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="sample xds, the translator and the load generator with py-spy "
        "during the change; collapsed stacks go to this directory",
    )
    parser.add_argument(
        "--idle",
        action="store_true",
        help="with --profile: also sample waiting threads (wall time)",
    )
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="before each cell, wait up to this long for an idle machine "
                             "(below 0.3 busy CPUs for 2 s); for a shared machine")  # fmt: skip
    parser.add_argument("--xds-env", action="append", default=[], metavar="KEY=VALUE",
                        help="add to xds's environment (repeatable), for experiments such "
                             "as MALLOC_ARENA_MAX=2")  # fmt: skip
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="keep logs here (default: a temporary directory, removed "
                             "unless a cell fails)")  # fmt: skip
    return parser.parse_args(argv)


def cell_options(options: argparse.Namespace) -> CellOptions:
    """The cell options among the command line's."""
    names = {f.name for f in dataclasses.fields(CellOptions)}
    values = {k: v for k, v in vars(options).items() if k in names}
    values["xds_env"] = tuple(values.get("xds_env", ()))
    return CellOptions(**values)


async def run(options: argparse.Namespace) -> int:
    """Run the matrix, print the table and the goals; 1 if a cell failed."""
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    work_root = options.work_dir or Path(tempfile.mkdtemp(prefix="mizzen-bench-"))
    keep = options.work_dir is not None
    print(legend(options), flush=True)
    print(table_header(), flush=True)
    results: list[CellResult] = []
    try:
        for services in options.services:
            for proxies in options.proxies:
                work_dir = work_root / f"n{proxies}-m{services}"
                if options.wait_quiet:
                    busy = await wait_for_quiet_machine(options.wait_quiet)
                    print(f"(machine busy {busy:.2f} CPUs before the cell)", file=sys.stderr)
                try:
                    result = await run_cell(cell_options(options), proxies, services, work_dir)
                except (PhaseTimeout, RuntimeError, OSError) as exc:
                    detail = "; ".join(f"{k}: {v}" for k, v in LAST_PROGRESS.items())
                    result = CellResult(proxies, services, options.real_envoys,
                                        error=f"{exc} [{detail}] (logs: {work_dir})")  # fmt: skip
                    keep = True
                LAST_PROGRESS.clear()
                results.append(result)
                print(table_row(result), flush=True)
    finally:
        if not keep:
            shutil.rmtree(work_root, ignore_errors=True)
    print()
    print(table_header())
    for result in results:
        print(table_row(result))
    for line in goals(results):
        print(line)
    return 1 if any(r.error for r in results) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the exit status (0 when every cell ran)."""
    options = parse_args(argv)
    if options.profile:
        try:
            find_py_spy()
        except FileNotFoundError as exc:
            print(exc, file=sys.stderr)
            return 2
        options.profile.mkdir(parents=True, exist_ok=True)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    started = time.monotonic()
    try:
        status = asyncio.run(run(options))
    except KeyboardInterrupt:
        print("interrupted; every process started was stopped", file=sys.stderr)
        return 130
    except asyncio.CancelledError:  # SIGTERM cancels the run (see run())
        print("terminated; every process started was stopped", file=sys.stderr)
        return 143
    print(f"ran {time.monotonic() - started:.0f}s", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
