"""`mizzen proxy-status` against a real mesh: every proxy, its class, SYNCED per type, NACKs."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from mizzen.snapshots.status import NackRecord, ProxyStatus, TypeStatus, proxy_key
from mizzen.testing import wait_for
from mizzen.testing.mesh import Mesh

pytestmark = pytest.mark.asyncio(loop_scope="module")
MIZZEN = str(Path(sys.executable).parent / "mizzen")
CDS = "type.googleapis.com/envoy.config.cluster.v3.Cluster"


async def run(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        MIZZEN, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_connected_proxies_are_listed_synced(mesh: Mesh) -> None:
    workload = await mesh.workload("status-v1", service="status", port=9080)
    store = ("--store", f"etcd://{mesh.etcd.endpoint}")

    async def synced_rows() -> list[list[str]] | None:
        code, out, _ = await run("proxy-status", *store)
        rows = [line.split() for line in out.splitlines()[1:]]
        ours = [r for r in rows if r[0].startswith("status-v1")]
        return ours if code == 0 and ours and ours[0][2:6] == ["SYNCED"] * 4 else None

    rows = await wait_for(synced_rows, timeout=20, message="the workload's proxy SYNCED")
    assert rows[0][1].startswith("sidecar-default-")

    code, out, _ = await run("proxy-status", rows[0][0], *store, "-o", "json")
    assert code == 0
    (entry,) = json.loads(out)
    assert entry["sync"] == {"CDS": "SYNCED", "LDS": "SYNCED", "EDS": "SYNCED", "RDS": "SYNCED"}
    assert entry["nodeId"].startswith(f"sidecar~{workload.address}~")


async def test_a_nack_is_shown_with_its_error(mesh: Mesh) -> None:
    status = ProxyStatus(
        proxy_id="broken.default", node_id="sidecar~127.9.9.9~broken.default~default.svc."
        "cluster.local", class_id="sidecar-default-0", replica="r", connection="c",
        protocol="sotw", connected_at="2026-01-01T00:00:00.000Z",
        types={CDS: TypeStatus(sent_version="v2", acked_version="v1", nacked=True)},
        last_nack=NackRecord(CDS, "v2", "n", "bad connect_timeout", "2026-01-01T00:00:01Z"),
    )  # fmt: skip
    await mesh.store.put(proxy_key(status.proxy_id), status.to_json())
    try:
        code, out, err = await run("proxy-status", "broken.default", "--store",
                                   f"etcd://{mesh.etcd.endpoint}")  # fmt: skip
        assert code == 0
        assert out.splitlines()[1].split()[2:6] == ["NACKED", "NOT", "SENT", "NOT"]
        assert "last NACK (Cluster" in err
        assert "bad connect_timeout" in err
        code, _, err = await run("proxy-status", "nobody", "--store",
                                 f"etcd://{mesh.etcd.endpoint}")  # fmt: skip
        assert code == 1
        assert "no connected proxy 'nobody'" in err
    finally:
        await mesh.store.delete(proxy_key(status.proxy_id))
