"""The committed generated code matches what ``make proto`` would write now."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mizzen.protos import build


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    # protoc runs in its own process: grpc_tools' compiler and protobuf's runtime in one
    # process is not a combination the rest of the test session should have to live with.
    result = subprocess.run(
        [sys.executable, "-m", "mizzen.protos.build", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    fresh = {Path(line) for line in result.stdout.split()}
    committed_root = build.repo_root() / "libs" / "protos" / "src"
    committed = {
        p.relative_to(committed_root)
        for p in (committed_root / "mizzen" / "protos").rglob("*")
        if p.is_file() and p.suffix in {".py", ".pyi"} and p.name != "build.py"
        and p.parent != committed_root / "mizzen" / "protos"
    }  # fmt: skip
    assert fresh == committed, "generated files differ from the committed ones: run make proto"
    stale = [
        str(p) for p in fresh if (tmp_path / p).read_bytes() != (committed_root / p).read_bytes()
    ]
    assert not stale, f"stale generated code (run make proto): {stale}"


def test_contract_round_trips() -> None:
    from mizzen.protos.config.v1 import config_pb2

    request = config_pb2.ApplyRequest(
        files=[config_pb2.SourceFile(name="vs.yaml", content="kind: VirtualService")],
        applied_by="test",
    )
    assert config_pb2.ApplyRequest.FromString(request.SerializeToString()) == request
