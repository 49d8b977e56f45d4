"""Compile ``proto/`` into ``mizzen.protos`` (run by ``make proto``).

protoc names generated modules after the proto's path (``mizzen.config.v1``), but service
packages own names like ``mizzen.xds``; so code is generated into a scratch directory, moved
under ``mizzen/protos/`` and its imports of sibling contracts rewritten to match.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

_IMPORT = re.compile(rb"^(from|import) mizzen\.(?!protos\.)", re.MULTILINE)


def repo_root() -> Path:
    """The workspace root (the directory holding ``proto/``)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "proto" / "mizzen").is_dir():
            return parent
    raise FileNotFoundError(f"no proto/mizzen directory above {here}")


def generate(proto_root: Path, out_root: Path) -> list[Path]:
    """Compile every ``.proto`` under ``proto_root/mizzen`` into ``out_root/mizzen/protos``.

    Returns the written files, relative to ``out_root``. Raises ``RuntimeError`` with
    protoc's exit status on a compile error.
    """
    from grpc_tools import protoc  # a build-time dependency only

    protos = sorted(
        str(p.relative_to(proto_root)) for p in (proto_root / "mizzen").rglob("*.proto")
    )
    include = Path(protoc.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as scratch:
        bin_dir = Path(sys.executable).parent
        args = [
            "protoc",
            f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
            f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
            f"-I{proto_root}",
            f"-I{include}",
            f"--python_out={scratch}",
            f"--grpc_python_out={scratch}",
            f"--mypy_out={scratch}",
            f"--mypy_grpc_out={scratch}",
            *protos,
        ]
        status = protoc.main(args)
        if status != 0:
            raise RuntimeError(f"protoc failed with status {status}")
        written: list[Path] = []
        for source in sorted(Path(scratch).rglob("*")):
            if not source.is_file():
                continue
            relative = source.relative_to(scratch)  # mizzen/<area>/v1/x_pb2.py
            target_rel = Path("mizzen", "protos", *relative.parts[1:])
            target = out_root / target_rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_IMPORT.sub(rb"\1 mizzen.protos.", source.read_bytes()))
            written.append(target_rel)
    # Every generated directory is a regular package, so mypy and importers see it plainly.
    package_dirs = {parent for p in written for parent in p.parents if len(parent.parts) > 2}
    for package_dir in sorted(package_dirs):
        init = out_root / package_dir / "__init__.py"
        if not init.exists():
            init.write_text("")
            written.append(package_dir / "__init__.py")
    return sorted(written)


def main(argv: list[str] | None = None) -> int:
    """Regenerate ``libs/protos/src/mizzen/protos`` from ``proto/``, replacing stale output."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=None, help="output root (default: this member's src)"
    )
    args = parser.parse_args(argv)
    root = repo_root()
    out = args.out or root / "libs" / "protos" / "src"
    generated_root = out / "mizzen" / "protos"
    for area in generated_root.iterdir() if generated_root.exists() else []:
        if area.is_dir() and area.name != "__pycache__":
            shutil.rmtree(area)
    files = generate(root / "proto", out)
    for file in files:
        print(file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
