"""The real `mizzen` command against a real translator and etcd: the config verbs end to end."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import yaml

from mizzen.launcher import ServiceProcess

MIZZEN = str(Path(sys.executable).parent / "mizzen")

REVIEWS = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  labels: {app: reviews}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: SUBSET}
"""
RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""


async def mizzen(
    translator: ServiceProcess, *args: str, stdin: str | None = None
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        MIZZEN, "--server", translator.grpc_target, *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin.encode() if stdin else None), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_apply_get_history_rollback_delete(
    translator: ServiceProcess, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "vs.yaml").write_text(REVIEWS.replace("SUBSET", "v1"))
    (config / "dr.yaml").write_text(RULE)

    code, out, err = await mizzen(translator, "apply", "-f", str(config), "-n", "bookinfo")
    assert code == 0, err
    assert sorted(out.splitlines()) == ["destinationrule/reviews created",
                                        "virtualservice/reviews created"]  # fmt: skip

    code, out, _ = await mizzen(translator, "get", "vs", "-n", "bookinfo")
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == ["KIND", "NAME", "HOSTS", "GENERATION", "AGE"]
    assert row.split()[:4] == ["VirtualService", "reviews", "reviews", "1"]

    code, out, _ = await mizzen(translator, "get", "all", "-A", "-o", "json")
    listed = json.loads(out)
    assert {item["kind"] for item in listed["items"]} == {"VirtualService", "DestinationRule"}

    code, out, err = await mizzen(translator, "apply", "-f", "-", "-n", "bookinfo",
                                  stdin=REVIEWS.replace("SUBSET", "v2"))  # fmt: skip
    assert (code, out.strip()) == (0, "virtualservice/reviews configured"), err

    code, out, _ = await mizzen(translator, "history", "vs", "reviews", "-n", "bookinfo")
    assert code == 0
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [r[3] for r in rows] == ["configured", "created"]
    first_revision = rows[1][0]

    code, out, err = await mizzen(translator, "rollback", "vs", "reviews", "-n", "bookinfo",
                                  "--to", first_revision)  # fmt: skip
    assert code == 0, err
    code, out, _ = await mizzen(translator, "get", "virtualservice", "reviews", "-n", "bookinfo",
                                "-o", "yaml")  # fmt: skip
    restored = yaml.safe_load(out)
    assert restored["spec"]["http"][0]["route"][0]["destination"]["subset"] == "v1"
    assert restored["metadata"]["generation"] == 3

    code, out, err = await mizzen(translator, "delete", "-f", str(config / "dr.yaml"), "-n",
                                  "bookinfo")  # fmt: skip
    assert (code, out.strip()) == (0, "destinationrule/reviews deleted"), err
    code, _, err = await mizzen(translator, "get", "dr", "reviews", "-n", "bookinfo")
    assert code == 1
    assert "not found" in err


async def test_invalid_apply_names_file_document_and_field(
    translator: ServiceProcess, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULE + "---\n" + REVIEWS.replace("SUBSET", "v1").replace("route:", "rout:"))
    code, out, err = await mizzen(translator, "apply", "-f", str(bad))
    assert code == 1
    assert out == ""
    assert f"{bad}: document 1 (VirtualService default/reviews): spec.http[0].rout" in err
    assert "did you mean route" in err
    code, _, err = await mizzen(translator, "get", "dr", "reviews")
    assert code == 1  # the valid document was not stored either


async def test_validate_is_offline_and_exits_1_on_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(RULE)
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULE.replace("name: v2", "name: v2!"))
    process = await asyncio.create_subprocess_exec(
        MIZZEN, "--server", "127.0.0.1:1", "validate", "-f", str(good),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)  # fmt: skip
    out, _ = await process.communicate()
    assert (process.returncode, out.decode().strip()) == (0, "1 document(s) valid")
    process = await asyncio.create_subprocess_exec(
        MIZZEN, "validate", "-f", str(bad),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)  # fmt: skip
    _, bad_err = await process.communicate()
    assert process.returncode == 1
    assert "spec.subsets[1].name" in bad_err.decode()


async def test_unreachable_server_and_unknown_kind_are_clear(translator: ServiceProcess) -> None:
    code, _, err = await mizzen(translator, "get", "virtualservicez")
    assert code == 2
    assert "unknown kind 'virtualservicez'" in err
    process = await asyncio.create_subprocess_exec(
        MIZZEN, "--server", "127.0.0.1:1", "get", "vs",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)  # fmt: skip
    _, unreachable = await process.communicate()
    assert process.returncode == 1
    assert "cannot reach the config API at 127.0.0.1:1" in unreachable.decode()
