"""The convergence benchmark (bench/convergence.py), run small so that it cannot rot: real
etcd, translator, xds, a load generator and one real Envoy. Checks that it completes and
prints its table, not the figures (they depend on the machine)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "convergence.py"


async def test_the_benchmark_runs_a_small_cell_and_prints_its_table(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(SCRIPT), "--proxies", "5", "--services", "5", "--real-envoys", "1",
        "--work-dir", str(tmp_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), 90)
    finally:
        if process.returncode is None:
            process.kill()  # the benchmark's children die with it (PR_SET_PDEATHSIG)
            await process.wait()
    text = out.decode()
    assert process.returncode == 0, f"{text}\n{err.decode()[-3000:]}"
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["proxies", "services"])
    row = lines[header + 1].split()
    assert row[:3] == ["5", "5", "6"], lines[header + 1]  # 5 workloads' classes + 1 Envoy
    assert "FAILED" not in text
    assert any(line.startswith("goals:") for line in lines)
