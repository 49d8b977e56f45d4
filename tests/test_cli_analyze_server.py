"""`mizzen analyze` on the config stored in a real translator, merged with local files."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from mizzen.launcher import ServiceProcess

MIZZEN = str(Path(sys.executable).parent / "mizzen")

ROUTE_TO_V3 = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v3}
"""
RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
"""


async def run(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        MIZZEN, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_stored_config_is_analyzed_and_files_override_it(
    translator: ServiceProcess, tmp_path: Path
) -> None:
    server = ("--server", translator.grpc_target)
    config = tmp_path / "config.yaml"
    config.write_text(ROUTE_TO_V3 + "---\n" + RULE)
    code, _, err = await run(*server, "apply", "-f", str(config), "-n", "bookinfo")
    assert code == 0, err

    code, out, _ = await run(*server, "analyze", "-n", "bookinfo")
    assert code == 79
    assert "IST0101" in out
    assert "reviews+v3" in out

    fix = tmp_path / "fix.yaml"
    fix.write_text(
        RULE.replace("- {name: v1", "- {name: v3, labels: {version: v3}}\n  - {name: v1")
    )
    code, out, err = await run(*server, "analyze", "-n", "bookinfo", "-f", str(fix))
    assert code == 0, out + err
    assert "No validation issues found" in out
