"""The committed generated code matches what ``make proto`` would write now."""

from __future__ import annotations

from pathlib import Path

from mizzen.protos import build


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    root = build.repo_root()
    fresh = build.generate(root / "proto", tmp_path)
    committed_root = root / "libs" / "protos" / "src"
    committed = {
        p.relative_to(committed_root)
        for p in (committed_root / "mizzen" / "protos").rglob("*")
        if p.is_file()
        and p.suffix in {".py", ".pyi"}
        and p.name != "build.py"
        and p.parent != committed_root / "mizzen" / "protos"
    }
    assert set(fresh) == committed, "generated files differ from the committed ones: run make proto"
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
